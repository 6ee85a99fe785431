import Foundation
import PPFBus
import PPFContracts
import PPFRuntime
import PPFStore
import PPFTestSupport
import PPFWorkflows
import Testing

extension Tag {
    /// Tests that take a minute or more (several services, restarts, bursts).
    @Tag static var slow: Self
}

/// The run-time chain on the tiny random model — agent → pruner → model-host,
/// plus the predictor and an evaluator when a test asks — on a private broker
/// (``ThrowawayBroker``: no shared backlog, and a test may kill it) and in an
/// isolated schema: what the fault tests start, kill and restart.
///
/// Every process a test starts through ``start(_:_:)`` is killed when the
/// test ends, however it ends.
final class RunTimeStack: @unchecked Sendable {
    let model: TinyModel
    let database: IsolatedDatabase
    let broker: ThrowawayBroker
    /// Prefix of every consumer group of this test's services.
    let groupPrefix = "it-\(UUID().uuidString.prefix(8))-"
    private let lock = NSLock()
    // Guarded by `lock`.
    private var processes: [ServiceProcess] = []

    private init(model: TinyModel, database: IsolatedDatabase, broker: ThrowawayBroker) {
        self.model = model
        self.database = database
        self.broker = broker
    }

    /// Runs `body` with a fresh tiny model, broker and schema (on `server`, the
    /// shared stack's PostgreSQL by default); the schema is migrated and the
    /// model's predictor version is stored before `body` starts. Cleans up after.
    static func with<Value: Sendable>(
        server: String = Stack.postgresURL,
        _ body: @Sendable (RunTimeStack) async throws -> Value
    ) async throws -> Value {
        let model = try TinyModel.make()
        defer { model.remove() }
        let broker = try await ThrowawayBroker.start()
        do {
            let value = try await IsolatedDatabase.with(server: server) { database in
                let stack = RunTimeStack(model: model, database: database, broker: broker)
                do {
                    try await database.pool.withConnection { try await Migrator(logger: Stack.logger).migrate(on: $0) }
                    _ = try await AgentServiceTests.storePredictor(model: model.modelId, database: database)
                    let value = try await body(stack)
                    await stack.stopAll()
                    return value
                } catch {
                    await stack.stopAll()
                    throw error
                }
            }
            await broker.stop()
            return value
        } catch {
            await broker.stop()
            throw error
        }
    }

    // MARK: - Services

    /// The environment of a service of this stack: the tiny model, this
    /// schema, this broker, this test's groups, a short agent training.
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var environment = model.environment(database: database, groupPrefix: groupPrefix, brokers: broker.bootstrapServers)
        environment["PPF_AGENT_ITERATIONS"] = "60"
        // Reconcile every 2 s (30 s by default), so lost messages are made up for within a test.
        environment["PPF_RECONCILE_SECONDS"] = "2"
        environment.merge(extra) { _, new in new }
        return environment
    }

    /// Starts `service` (e.g. `"agent"`) with `extra` settings; it is killed when the test ends.
    @discardableResult
    func start(_ service: String, _ extra: [String: String] = [:]) throws -> ServiceProcess {
        let process = try ServiceProcess.start(service, environment: environment(extra))
        lock.withLock { processes.append(process) }
        return process
    }

    /// Starts the agent and waits until it serves the tiny model (its agent version is stored).
    @discardableResult
    func startAgent(_ extra: [String: String] = [:]) async throws -> ServiceProcess {
        let agent = try start("agent", extra)
        let model = model.modelId
        guard try await eventually(within: .seconds(120), {
            try await self.database.count("SELECT count(*)::int FROM agent_versions WHERE model_id = \(model)") >= 1
        }) else {
            throw TestSetupError("the agent trained no version for '\(model)': \(agent.output.suffix(3000))")
        }
        try await agent.waitForOutput("ready", within: .seconds(60))
        return agent
    }

    /// SIGTERMs every process still running and checks each drained and exited cleanly.
    func stopCleanly(_ services: ServiceProcess...) async throws {
        for service in services { service.send(SIGTERM) }
        for service in services {
            // Longer than a service's own 30 s drain limit, so a stuck drain names itself in the output.
            do {
                let ended = try await service.waitForExit(within: .seconds(45))
                #expect(ended == .exited(0), "\(service.output.suffix(2000))")
            } catch {
                // Still running: where it is stuck is what the next reader needs.
                Issue.record("\(error): \(service.output.suffix(4000))\nthread stacks:\n\(service.threadStacks())")
            }
        }
    }

    private func stopAll() async {
        for process in lock.withLock({ processes }) { await process.stop() }
    }

    // MARK: - Clients

    /// A producer on this stack's broker (shut it down before the test ends).
    func producer() throws -> KafkaProducer {
        try KafkaProducer.make(configuration: Stack.kafka(broker.bootstrapServers), logger: Stack.logger)
    }

    /// A recorder of `topic` on this stack's broker (stop it before the test ends).
    func recorder(_ topic: String) async throws -> TopicRecorder {
        try await TopicRecorder(topic: topic, brokers: broker.bootstrapServers)
    }

    // MARK: - Ratio events

    /// Records dynamic ratio events of the tiny model as `ppf ratio set` does
    /// (``RatioEvents/emit(_:id:producer:on:)``), all in one
    /// transaction, and leaves publishing to the running services' outbox relays.
    /// - Returns: the event ids, in the order of `ratios`.
    func emit(_ ratios: [Double]) async throws -> [UUID] {
        let model = model.modelId
        return try await database.pool.withTransaction { connection in
            var ids: [UUID] = []
            for ratio in ratios {
                let change = try RatioChange(modelId: model, targetRatio: ratio, mode: .dynamic, requestedBy: "it")
                ids.append(try await RatioEvents.emit(change, producer: "it/cli", on: connection).messageId)
            }
            return ids
        }
    }

    // MARK: - Exactly once, in PostgreSQL

    /// What PostgreSQL holds for one ratio event: its outcomes, the outbox
    /// entries of its policy and plan (with how many were published), and its plans.
    struct EventAccount: Equatable, CustomStringConvertible {
        var event: UUID
        var outcomes: Int
        var answered: Int
        var policyEntries: Int
        var policyEntriesPublished: Int
        var plans: Int
        var planEntries: Int
        var planEntriesPublished: Int

        /// One answer, announced and published once; planned and announced once when `planned`.
        func isExactlyOnce(planned: Bool) -> Bool {
            let answer = outcomes == 1 && answered == 1 && policyEntries == 1 && policyEntriesPublished == 1
            return answer && (!planned || (plans == 1 && planEntries == 1 && planEntriesPublished == 1))
        }

        var description: String {
            "\(event.uuidString.lowercased().prefix(8)): outcomes \(outcomes) (answered \(answered)), policy entries \(policyEntries) (published \(policyEntriesPublished)), plans \(plans), plan entries \(planEntries) (published \(planEntriesPublished))"
        }
    }

    /// The account of each of `events`, in their order.
    func accounts(_ events: [UUID]) async throws -> [EventAccount] {
        let rows = try await database.pool.withConnection { connection in
            try await connection.query("""
                WITH entries AS (
                    SELECT topic, published_at, (convert_from(payload, 'UTF8')::jsonb ->> 'correlationId')::uuid AS event
                      FROM outbox WHERE topic IN (\(Topic.prunedPolicies), \(Topic.plans))
                )
                SELECT e.id,
                       (SELECT count(*)::int FROM ratio_event_outcomes o WHERE o.ratio_event_id = e.id),
                       (SELECT count(*)::int FROM ratio_event_outcomes o WHERE o.ratio_event_id = e.id AND o.status = 'answered'),
                       (SELECT count(*)::int FROM entries x WHERE x.event = e.id AND x.topic = \(Topic.prunedPolicies)),
                       (SELECT count(*)::int FROM entries x WHERE x.event = e.id AND x.topic = \(Topic.prunedPolicies)
                           AND x.published_at IS NOT NULL),
                       (SELECT count(*)::int FROM plans p WHERE p.ratio_event_id = e.id),
                       (SELECT count(*)::int FROM entries x WHERE x.event = e.id AND x.topic = \(Topic.plans)),
                       (SELECT count(*)::int FROM entries x WHERE x.event = e.id AND x.topic = \(Topic.plans)
                           AND x.published_at IS NOT NULL)
                  FROM ratio_events e WHERE e.id = ANY(\(events))
                """)
        }
        var byEvent: [UUID: EventAccount] = [:]
        for row in rows {
            let account = EventAccount(
                event: try row.decode(UUID.self, column: 0), outcomes: try row.decode(Int.self, column: 1),
                answered: try row.decode(Int.self, column: 2), policyEntries: try row.decode(Int.self, column: 3),
                policyEntriesPublished: try row.decode(Int.self, column: 4), plans: try row.decode(Int.self, column: 5),
                planEntries: try row.decode(Int.self, column: 6), planEntriesPublished: try row.decode(Int.self, column: 7))
            byEvent[account.event] = account
        }
        return events.map {
            byEvent[$0] ?? EventAccount(event: $0, outcomes: 0, answered: 0, policyEntries: 0, policyEntriesPublished: 0,
                                        plans: 0, planEntries: 0, planEntriesPublished: 0)
        }
    }

    /// The accounts of `accounts` that are not exactly once (see ``EventAccount/isExactlyOnce(planned:)``).
    static func violations(_ accounts: [EventAccount], planned: Bool) -> [EventAccount] {
        var violations: [EventAccount] = []
        for account in accounts where !account.isExactlyOnce(planned: planned) {
            violations.append(account)
        }
        return violations
    }

    /// Waits until every one of `events` is answered (and planned, when `planned`) exactly once;
    /// returns the accounts either way, for the test's expectations.
    @discardableResult
    func awaitExactlyOnce(_ events: [UUID], planned: Bool, within limit: Duration = .seconds(60)) async throws -> [EventAccount] {
        _ = try await eventually(within: limit) {
            try await self.accounts(events).allSatisfy { $0.isExactlyOnce(planned: planned) }
        }
        return try await accounts(events)
    }
}
