import Foundation
import PPFBus
import PPFContracts
import PPFRuntime
import PPFStore
import PPFTestSupport
import PPFWorkflows
import Testing

/// An evaluator killed in the middle of a measurement (design.md: "a crash at
/// any point loses nothing and duplicates nothing"): the request is measured
/// again by the next owner of its partition, and ends with exactly one
/// measurement row and one published ``PerplexityMeasurement``.
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(6)))) struct EvaluatorCrashTests {
    @Test func anEvaluatorKilledMidMeasurementLeavesNothingAndTheNextOneMeasuresTheRequestOnce() async throws {
        let fixture = try TinyModelFixture.make()
        defer { fixture.remove() }
        try await IsolatedDatabase.with { database in
            let stack = PhaseOneStack(database: database, fixture: fixture)
            let measurements = try await TopicRecorder(topic: Topic.measurements)
            let producer = try KafkaProducer.make(configuration: Stack.kafka, logger: Stack.logger)
            var services: [ServiceProcess] = []
            do {
                // The first evaluator holds still inside the measurement (plan applied, no window scored).
                let doomed = try await stack.startEvaluator(
                    "it-doomed", extra: ["PPF_FAULT_INJECTION": FaultInjection.duringMeasurement])
                services.append(doomed)
                let request = try await Self.storeRequest(
                    .uniform(blocks: TinyModelFixture.blocks, attention: 1.0 / 3, mlp: 0.25),
                    modelId: fixture.modelId, database: database)
                let id = request.payload.requestId.uuidString.lowercased()
                try await producer.send(request, to: Topic.evaluationRequests, key: request.payload.policyId.uuidString.lowercased())

                // Within minutes, not seconds: a new group reads the shared broker's request backlog first
                // (other runs' requests, each dead-lettered as another model's).
                try await doomed.waitForOutput("fault injection: holding at \(FaultInjection.duringMeasurement)", within: .seconds(180))
                #expect(try await eventually(within: .seconds(10)) {
                    try await database.count("""
                        SELECT count(*)::int FROM service_instances
                         WHERE instance_id = 'it-doomed' AND details->>'activity' LIKE \("evaluating request " + id + "%")
                        """) == 1
                }, "the heartbeat says the request is being evaluated when the kill lands")
                doomed.send(SIGKILL)
                #expect(try await doomed.waitForExit() == .signalled(SIGKILL))
                #expect(try await database.count("SELECT count(*)::int FROM measurements") == 0, "a killed measurement writes nothing")
                #expect(try await database.count("SELECT count(*)::int FROM outbox WHERE topic = \(Topic.measurements)") == 0)

                // The next evaluator in the group gets the partition once the dead member is evicted, and redoes the request.
                let survivor = try await stack.startEvaluator("it-survivor")
                services.append(survivor)
                #expect(try await eventually(within: .seconds(90)) {
                    try await database.count("SELECT count(*)::int FROM measurements") == 1
                }, "the request is measured again: \(survivor.output.suffix(3000))")
                #expect(try await eventually(within: .seconds(20)) { !measurements.messages(containing: id).isEmpty },
                        "the measurement is published through the outbox")
                // Give a duplicate time to show up, were there one.
                try await Task.sleep(for: .seconds(3))

                let row = try await database.pool.withConnection { connection in
                    try #require(try await MeasurementRepository.find(requestId: request.payload.requestId, on: connection))
                }
                #expect(row.evaluatorId == "it-survivor")
                #expect(row.perplexity.isFinite && row.perplexity > 1)
                #expect(try await database.count("SELECT count(*)::int FROM measurements WHERE request_id = \(request.payload.requestId)") == 1)
                #expect(try await database.count("""
                    SELECT count(*)::int FROM outbox WHERE topic = \(Topic.measurements) AND published_at IS NOT NULL
                       AND convert_from(payload, 'UTF8') LIKE \("%" + id + "%")
                    """) == 1, "one PerplexityMeasurement in the outbox, published")
                let published = measurements.messages(containing: id)
                #expect(published.count == 1, "published once, got \(published.count)")
                if let message = published.first {
                    let envelope = try Envelope<PerplexityMeasurement>.decode(message.value)
                    #expect(envelope.payload.requestId == request.payload.requestId)
                    #expect(envelope.payload.evaluatorId == "it-survivor")
                    #expect(envelope.correlationId == request.correlationId)
                }

                survivor.send(SIGTERM)
                #expect(try await survivor.waitForExit() == .exited(0), "\(survivor.output.suffix(2000))")
            } catch {
                for service in services { await service.stop() }
                await measurements.stop()
                await producer.shutdown()
                throw error
            }
            await measurements.stop()
            await producer.shutdown()
        }
    }

    /// Stores the policy and the request row the way an asker does (64 tokens in windows of 32); with
    /// `announce`, its message goes into the outbox in the same transaction, as
    /// ``MeasurementRequests/enqueue(_:correlationId:producer:on:)`` does for every asker, for a relay to publish.
    static func storeRequest(_ policy: PruningPolicy, modelId: String, split: String = "validation", announce: Bool = false,
                             database: IsolatedDatabase) async throws -> Envelope<EvaluationRequest> {
        let correlation = UUID()
        return try await database.pool.withTransaction { connection in
            let stored = try await PolicyRepository.store(policy, modelId: modelId, source: "it",
                                                          correlationId: correlation, on: connection).record
            let request = try EvaluationRequest(
                requestId: UUID(), modelId: modelId, policyId: stored.id, policy: policy, metric: "magnitude",
                split: split, tokenBudget: 64, window: 32, reason: .bootstrap)
            if announce {
                try await MeasurementRequests.enqueue(request, correlationId: correlation, producer: "it/asker", on: connection)
            } else {
                try await EvaluationRequestRepository.insert(request, correlationId: correlation, on: connection)
            }
            return Envelope(correlationId: correlation, producer: "it/asker", payload: request)
        }
    }
}
