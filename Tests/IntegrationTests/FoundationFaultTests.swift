import Foundation
import PPFBus
import PPFContracts
import PPFRuntime
import PPFStore
import PPFTestSupport
import Testing

/// The foundation's delivery guarantees, shown with real processes, the real
/// broker and the real database (design.md, "System of record and delivery
/// guarantees").
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(3)))) struct FoundationFaultTests {
    @Test func anEntryCommittedBeforeACrashIsPublishedExactlyOnceAfterARestart() async throws {
        try await IsolatedDatabase.with { database in
            let model = "it-crash-\(UUID().uuidString.prefix(8))"
            let environment = ["PPF_POSTGRES_URL": database.url, "PPF_KAFKA_BROKERS": Stack.kafkaBrokers]
            let recorder = try await TopicRecorder(topic: Topic.ratioEvents)

            // 1. The CLI commits the event and its outbox entry, then dies by SIGKILL before publishing.
            var crashEnvironment = environment
            crashEnvironment["PPF_FAULT_INJECTION"] = FaultInjection.afterOutboxCommit
            let cli = try ServiceProcess.start("ppf", ["ratio", "set", "0.42", "--model", model], environment: crashEnvironment)
            let ending = try await cli.waitForExit()
            #expect(ending == .signalled(SIGKILL), "the CLI should die at the fault point: \(cli.output)")

            let eventId = try await database.pool.withConnection { connection in
                try #require(try await connection.query(
                    "SELECT id FROM ratio_events WHERE model_id = \(model)").first).decode(UUID.self, column: 0)
            }
            let unpublished = try await database.count(
                "SELECT count(*)::int FROM outbox WHERE message_id = \(eventId) AND published_at IS NULL")
            #expect(unpublished == 1, "the entry must be committed but not yet published")
            try await Task.sleep(for: .seconds(1))
            #expect(recorder.messages(containing: eventId.uuidString.lowercased()).isEmpty)

            // 2. A service starts; its relay publishes the entry.
            let agent = try ServiceProcess.start("agent", environment: environment)
            try await agent.waitForOutput("ready")
            let id = eventId.uuidString.lowercased()
            #expect(try await eventually(within: .seconds(20)) { recorder.messages(containing: id).count >= 1 },
                    "the relay should publish the entry: \(agent.output.suffix(2000))")
            // 3. A second restart must not publish it again.
            agent.send(SIGTERM)
            #expect(try await agent.waitForExit() == .exited(0), "SIGTERM drains and exits cleanly: \(agent.output.suffix(2000))")
            let again = try ServiceProcess.start("agent", environment: environment)
            try await again.waitForOutput("ready")
            try await Task.sleep(for: .seconds(3))
            again.send(SIGTERM)
            #expect(try await again.waitForExit() == .exited(0))
            await recorder.stop()

            let delivered = recorder.messages(containing: id)
            #expect(delivered.count == 1, "published exactly once, got \(delivered.count)")
            let envelope = try Envelope<RatioChange>.decode(try #require(delivered.first).value)
            #expect(envelope.messageId == eventId)
            #expect(envelope.correlationId == eventId)
            #expect(envelope.payload.targetRatio == 0.42)
            let published = try await database.count(
                "SELECT count(*)::int FROM outbox WHERE message_id = \(eventId) AND published_at IS NOT NULL")
            #expect(published == 1)
        }
    }

    @Test func aRelayKilledBetweenPublishAndMarkPublishesAgainAndTheConsumerActsOnce() async throws {
        try await IsolatedDatabase.with { database in
            let model = "it-mark-\(UUID().uuidString.prefix(8))"
            let environment = ["PPF_POSTGRES_URL": database.url, "PPF_KAFKA_BROKERS": Stack.kafkaBrokers]
            let recorder = try await TopicRecorder(topic: Topic.ratioEvents)

            // 1. The CLI's relay publishes the event, then dies before it marks the entry published.
            var crashEnvironment = environment
            crashEnvironment["PPF_FAULT_INJECTION"] = FaultInjection.relayAfterPublishBeforeMark
            let cli = try ServiceProcess.start("ppf", ["ratio", "set", "0.37", "--model", model], environment: crashEnvironment)
            #expect(try await cli.waitForExit() == .signalled(SIGKILL), "the CLI should die at the fault point: \(cli.output)")
            let eventId = try await database.pool.withConnection { connection in
                try #require(try await connection.query(
                    "SELECT id FROM ratio_events WHERE model_id = \(model)").first).decode(UUID.self, column: 0)
            }
            let id = eventId.uuidString.lowercased()
            #expect(try await eventually(within: .seconds(10)) { recorder.messages(containing: id).count == 1 },
                    "the broker acknowledged the entry before the kill")
            #expect(try await database.count(
                "SELECT count(*)::int FROM outbox WHERE message_id = \(eventId) AND published_at IS NULL") == 1,
                    "the mark never committed")

            // 2. A service's relay finds it unpublished and sends it again: the topic holds a duplicate.
            let agent = try ServiceProcess.start("agent", environment: environment)
            try await agent.waitForOutput("ready")
            #expect(try await eventually(within: .seconds(20)) { recorder.messages(containing: id).count == 2 },
                    "the relay should publish the entry again: \(agent.output.suffix(2000))")
            // 3. The agent consumes both copies and acts once: one outcome, one rejection sent, one audit entry.
            #expect(try await eventually(within: .seconds(30)) {
                try await database.count("SELECT count(*)::int FROM ratio_event_outcomes WHERE ratio_event_id = \(eventId)") == 1
            }, "the agent should answer the event: \(agent.output.suffix(2000))")
            try await Task.sleep(for: .seconds(3))
            agent.send(SIGTERM)
            #expect(try await agent.waitForExit() == .exited(0))
            await recorder.stop()
            #expect(try await database.count("SELECT count(*)::int FROM ratio_event_outcomes WHERE ratio_event_id = \(eventId)") == 1)
            #expect(try await database.count(
                "SELECT count(*)::int FROM outbox WHERE topic = \(Topic.ratioRejections) AND convert_from(payload, 'UTF8') LIKE \("%" + id + "%")") == 1,
                    "one rejection, not one per copy")
            #expect(try await database.count(
                "SELECT count(*)::int FROM audit_log WHERE correlation_id = \(eventId) AND action = 'ratio-event.rejected'") == 1)
            #expect(try await database.count(
                "SELECT count(*)::int FROM outbox WHERE message_id = \(eventId) AND published_at IS NOT NULL") == 1)
        }
    }

    @Test func aServiceStartedWhilePostgresIsDownRetriesAndConnectsWhenItComesUp() async throws {
        let server = try await ThrowawayPostgres.initialize()
        do {
            let url = "postgresql://ppf@127.0.0.1:\(server.port)/postgres"
            let agent = try ServiceProcess.start(
                "agent", environment: ["PPF_POSTGRES_URL": url, "PPF_KAFKA_BROKERS": Stack.kafkaBrokers])
            try await agent.waitForOutput("retrying in", within: .seconds(20))
            #expect(agent.output.contains("is not accepting connections"))
            #expect(!agent.output.contains("ready"))
            try await server.start()
            try await agent.waitForOutput("ready", within: .seconds(30))
            agent.send(SIGTERM)
            #expect(try await agent.waitForExit() == .exited(0))
            await agent.stop()
        } catch {
            await server.remove()
            throw error
        }
        await server.remove()
    }
}

/// Consumers: redelivery changes the database once; bad messages are
/// dead-lettered with a reason and consumption goes on.
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(3)))) struct ConsumerGuaranteeTests {
    /// A consumer service on a private topic whose handler records each
    /// ratio change in a table, once per message id.
    struct Harness {
        let context: ServiceContext
        let topic: String
        let task: Task<Void, any Error>

        static func start(_ database: IsolatedDatabase) async throws -> Harness {
            let context = try await ServiceContext.start(serviceName: "it-consumer",
                                                         settings: try database.settings(service: "it-consumer"))
            try await context.pool.withConnection { connection in
                _ = try await connection.execute("CREATE TABLE handled (message_id uuid, ratio double precision)")
            }
            let topic = "it.consumer-\(UUID().uuidString.prefix(8))"
            let admin = try KafkaAdmin.make(configuration: Stack.kafka, logger: Stack.logger)
            _ = try await admin.createTopics([TopicSpec(name: topic, partitions: 1)])
            let service = EnvelopeConsumerService<RatioChange>(
                context: context, groupId: "it-group-\(UUID().uuidString.prefix(8))", topic: topic
            ) { envelope, _ in
                try envelope.payload.validate()
                try await context.once(envelope, consumer: "it-consumer") { connection in
                    _ = try await connection.execute(
                        "INSERT INTO handled VALUES (\(envelope.messageId), \(envelope.payload.targetRatio))")
                }
            }
            let task = Task { try await service.run() }
            return Harness(context: context, topic: topic, task: task)
        }

        func send(_ bytes: [UInt8]) async throws {
            _ = try await context.producer.send(topic: topic, key: "k", value: bytes)
        }

        func stop() async {
            task.cancel()
            _ = await task.result
            await context.shutdown()
        }
    }

    static func ratioChange(_ ratio: Double, id: UUID = UUID()) throws -> Envelope<RatioChange> {
        // Built field by field: an out-of-range ratio must reach the consumer.
        var change = try RatioChange(modelId: "m", targetRatio: 0.1, mode: .dynamic, requestedBy: "test")
        change.targetRatio = ratio
        return Envelope(correlationId: id, producer: "test", payload: change, messageId: id)
    }

    @Test func theSameMessageDeliveredTwiceChangesTheDatabaseOnce() async throws {
        try await IsolatedDatabase.with { database in
            let harness = try await Harness.start(database)
            let envelope = try Self.ratioChange(0.25)
            try await harness.send(try envelope.encoded())
            try await harness.send(try envelope.encoded())
            let marker = try Self.ratioChange(0.5)
            try await harness.send(try marker.encoded())
            // Once the later message is handled, both copies have been seen.
            #expect(try await eventually(within: .seconds(30)) {
                try await database.count("SELECT count(*)::int FROM handled WHERE message_id = \(marker.messageId)") == 1
            })
            #expect(try await database.count("SELECT count(*)::int FROM handled WHERE message_id = \(envelope.messageId)") == 1)
            #expect(try await database.count("SELECT count(*)::int FROM processed_messages WHERE message_id = \(envelope.messageId)") == 1)
            await harness.stop()
        }
    }

    @Test func badMessagesAreDeadLetteredWithAReasonAndConsumptionGoesOn() async throws {
        try await IsolatedDatabase.with { database in
            let harness = try await Harness.start(database)
            let deadLetters = try await TopicRecorder(topic: Topic.deadLetters)
            var wrongVersion = String(decoding: try Self.ratioChange(0.3).encoded(), as: UTF8.self)
            wrongVersion = wrongVersion.replacingOccurrences(of: "\"schemaVersion\":1", with: "\"schemaVersion\":99")
            try await harness.send(Array("{this is not json".utf8))
            try await harness.send(Array(wrongVersion.utf8))
            try await harness.send(try Self.ratioChange(1.7).encoded())
            let good = try Self.ratioChange(0.2)
            try await harness.send(try good.encoded())

            #expect(try await eventually(within: .seconds(30)) {
                try await database.count("SELECT count(*)::int FROM handled WHERE message_id = \(good.messageId)") == 1
            }, "the good message after the bad ones must be handled")
            #expect(try await eventually(within: .seconds(10)) {
                try await database.count("SELECT count(*)::int FROM dead_letters WHERE topic = \(harness.topic)") == 3
            })
            let reasons = try await database.pool.withConnection { connection in
                try await connection.query("SELECT reason FROM dead_letters WHERE topic = \(harness.topic) ORDER BY \"offset\"")
                    .decode(String.self)
            }
            #expect(reasons.count == 3)
            #expect(reasons.first?.contains("malformed") == true)
            #expect(reasons.dropFirst().first?.contains("schema version 99") == true)
            #expect(reasons.last?.contains("outside [0, 1)") == true)
            #expect(try await eventually(within: .seconds(15)) {
                deadLetters.messages(containing: "\"originalTopic\":\"\(harness.topic)\"").count == 3
            }, "the dead letters must also reach \(Topic.deadLetters)")
            await deadLetters.stop()
            await harness.stop()
        }
    }
}
