// MARK: - Fault points of the run-time services

/// The points the run-time services offer the fault tests (see
/// ``FaultInjection``), one per service, each where a kill hurts most.
extension FaultInjection {
    /// In the agent, right after the transaction that stores a ratio event's
    /// answer (outcome, policy, outbox entry) committed, before the relay
    /// published the ``PolicyPublished``: the process kills itself.
    public static let agentAfterAnswerCommit = "agent-after-answer-commit"
    /// In the pruner, right after the transaction that stores a plan (plan row,
    /// ``PlanPublished`` outbox entry, the policy's achieved ratio) committed,
    /// before the message's offset is committed: the process kills itself.
    public static let prunerAfterPlanCommit = "pruner-after-plan-commit"
    /// In the pruner, on its planning queue: the policy is in hand, no plan is
    /// computed or stored yet. The process holds until killed.
    public static let duringPlanning = "during-planning"
    /// In the predictor, on its training queue: a training was decided, no
    /// version is stored yet. The process holds until killed.
    public static let duringPredictorTraining = "during-predictor-training"
    /// In model-host, on its build queue: a newer plan's pruned model is being
    /// built off the serving path; requests keep being answered by the version
    /// serving. The process holds until killed.
    public static let duringPlanBuild = "during-plan-build"
    /// In an evaluator, right after the transaction that stores a measurement
    /// (row, ``PerplexityMeasurement`` outbox entry, inbox claim, achieved
    /// ratio) committed, before the request's offset is committed and before
    /// the relay published: the process kills itself.
    public static let evaluatorAfterMeasurementCommit = "evaluator-after-measurement-commit"
    /// In the predictor, right after the transaction that stores a trained
    /// version (row, ``PredictorVersionPublished`` outbox entry, audit entry)
    /// committed, before anything is published: the process kills itself.
    public static let predictorAfterVersionCommit = "predictor-after-version-commit"
    /// In model-host, right after an answered request's `inference_log` row
    /// committed, before the request's offset is committed: the process kills itself.
    public static let modelHostAfterAnswerLog = "model-host-after-answer-log"
}
