/// Every Kafka topic PPF uses. Topic names live here and nowhere else.
///
/// The message key is the id that ordering must follow (documented per topic).
public enum Topic {
    /// Ratio-change events from people or the CLI. Key: model id.
    public static let ratioEvents = "ppf.ratio-events"
    /// Policies produced by the agent (the pruned-policy topic). Key: model id.
    public static let prunedPolicies = "ppf.pruned-policies"
    /// Ratio-change events the agent could not answer, with the reason. Key: model id.
    public static let ratioRejections = "ppf.ratio-rejections"
    /// Plans produced by the pruner (``PlanPublished``). Key: model id.
    public static let plans = "ppf.plans"
    /// Evaluation requests for evaluators. Key: policy id (spreads over partitions).
    public static let evaluationRequests = "ppf.evaluation-requests"
    /// Measurements from evaluators. Key: policy id.
    public static let measurements = "ppf.measurements"
    /// New predictor versions. Key: model id.
    public static let predictorVersions = "ppf.predictor-versions"
    /// Commands to the predictor service (train now). Key: model id.
    public static let predictorCommands = "ppf.predictor-commands"
    /// Prediction requests and replies. Key: request id.
    public static let predictionRequests = "ppf.prediction-requests"
    public static let predictionReplies = "ppf.prediction-replies"
    /// New agent versions. Key: model id.
    public static let agentVersions = "ppf.agent-versions"
    /// Progress of static-pruning searches and their verification (ephemeral). Key: model id.
    public static let searchProgress = "ppf.search-progress"
    /// Inference requests and replies for model-host. Key: request id.
    public static let inferenceRequests = "ppf.inference-requests"
    public static let inferenceReplies = "ppf.inference-replies"
    /// The model version each model-host instance serves, after start and every swap
    /// (``ModelHostStatus``; ``status`` carries heartbeats only). Key: service instance.
    public static let modelHostStatus = "ppf.model-host-status"
    /// Service heartbeats and status. Key: service instance.
    public static let status = "ppf.status"
    /// Messages no consumer could process, with the reason. Key: original key.
    public static let deadLetters = "ppf.dead-letters"

    /// Every topic with its partition count, created by each service at
    /// start-up (idempotently). Partitions bound parallelism within a consumer
    /// group: evaluation requests get the most, so many evaluators can work.
    public static let all: [(name: String, partitions: Int)] = [
        (ratioEvents, 3), (prunedPolicies, 3), (ratioRejections, 1), (plans, 3),
        (evaluationRequests, 12), (measurements, 3),
        (predictorVersions, 1), (predictorCommands, 1), (predictionRequests, 3), (predictionReplies, 3),
        (agentVersions, 1), (searchProgress, 1), (inferenceRequests, 3), (inferenceReplies, 3), (modelHostStatus, 1),
        (status, 1), (deadLetters, 1),
    ]
}
