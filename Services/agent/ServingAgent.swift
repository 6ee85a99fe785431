import Foundation
import PPFAgent
import PPFContracts
import PPFStore

// MARK: - ServingAgent

/// The agent version that answers a model's ratio events, with everything an
/// answer needs in memory: the network, the predictor it was trained against
/// (to score its policies) and the regime of that predictor's measurements
/// (the metric policies are meant for, how verifications are measured).
struct ServingAgent: Sendable {
    /// `agent_versions.id`.
    let versionId: UUID
    /// The model it answers for.
    let modelId: String
    /// `predictor_versions.id` it was trained against.
    let predictorVersionId: UUID
    /// The trained network bound to the model's budget.
    let agent: PruningAgent
    /// The predictor, as the agent's reward.
    let reward: PredictorReward
    /// The metric, split, token budget and window of the predictor's measurements.
    let regime: PredictorRegime

    /// The ratios it answers.
    var ratioRange: ClosedRange<Double> { agent.ratioRange }
}

/// What a ratio event gets from the registry: an agent to answer with, or why not.
enum Resolution: Sendable {
    /// The agent that answers.
    case ready(ServingAgent)
    /// The event cannot be answered (unknown model, no predictor yet).
    case rejected(reason: RatioEventRejected.Reason, message: String)
}
