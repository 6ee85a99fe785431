import PPFBus
import PPFContracts
import PPFRuntime
import PPFWorkflows

// MARK: - Wiring

/// The agent's long-running pieces: the static-search worker, the
/// predictor-version consumer (retrains), the agent-version consumer (serves
/// newly anchored agents), and the ratio-event consumer, which
/// first reconciles from PostgreSQL. Each consumer has its own group,
/// prefixed with `PPF_CONSUMER_GROUP_PREFIX`; bad messages (malformed,
/// unknown schema, a ratio outside [0, 1), a predictor version without
/// samples) are dead-lettered by ``EnvelopeConsumerService``.
enum AgentServices {
    static func make(context: ServiceContext, status: ServiceStatus) -> [any PPFService] {
        let registry = AgentRegistry(context: context, status: status)
        let answers = AnswerStore(context: context, status: status)
        let searches = StaticPruningService(context: context, answers: answers, status: status)
        let handler = RatioEventHandler(context: context, registry: registry, answers: answers, searches: searches)
        let predictorVersions = EnvelopeConsumerService<PredictorVersionPublished>(
            context: context, groupId: context.settings.consumerGroupPrefix + "agent.predictor-versions",
            topic: Topic.predictorVersions
        ) { envelope, _ in
            try envelope.payload.validate()
            try await registry.predictorVersionPublished(envelope)
        }
        let agentVersions = EnvelopeConsumerService<AgentVersionPublished>(
            context: context, groupId: context.settings.consumerGroupPrefix + "agent.agent-versions",
            topic: Topic.agentVersions
        ) { envelope, _ in
            try envelope.payload.validate()
            try await registry.agentVersionPublished(envelope)
        }
        // Under a burst, the events waiting in the buffer are answered in one transaction.
        let ratioEvents = EnvelopeConsumerService<RatioChange>(
            context: context, groupId: answers.groupId, topic: Topic.ratioEvents, maxBatch: 64
        ) { batch in
            try await handler.handleBatch(batch)
        } handler: { envelope, message in
            try await handler.handle(envelope, message)
        }
        return [searches, predictorVersions, agentVersions,
                ReconcileThenAnswer(context: context, registry: registry, handler: handler, consumer: ratioEvents,
                                    status: status)]
    }
}

/// Reconciles from PostgreSQL before consuming ratio events (design.md: the
/// local broker forgets its topics on restart): every model's newest
/// predictor version gets its agent, then every recorded event without an
/// outcome is answered. While consuming, events still without an outcome
/// after ``Settings/reconcileSeconds`` are answered too: their messages died
/// with a restarted broker.
struct ReconcileThenAnswer: PPFService {
    let name = "ratio-events"
    let context: ServiceContext
    let registry: AgentRegistry
    let handler: RatioEventHandler
    let consumer: EnvelopeConsumerService<RatioChange>
    let status: ServiceStatus

    func run() async throws {
        try await registry.reconcile()
        try await handler.reconcile()
        status.set(activity: "idle")
        let handler = handler
        let age = context.settings.reconcileSeconds
        let periodic = PeriodicReconciliation(name: "ratio-event reconciliation", context: context) {
            try await handler.reconcile(olderThan: age)
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await consumer.run() }
            tasks.addTask { try await periodic.run() }
            // Either one ending (cancelled at shutdown, or failing) ends the other.
            try await tasks.next()
            tasks.cancelAll()
        }
    }
}
