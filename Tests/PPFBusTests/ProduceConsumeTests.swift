import Foundation
import PPFBus
import PPFContracts
import Testing

/// One producer, one consumer, the real broker.
@Suite(.timeLimit(.minutes(1)))
struct ProduceConsumeTests {
    @Test func producedEnvelopeIsConsumedExactlyOnceAndIntact() async throws {
        let admin = try await Broker.admin()
        let topic = try await Broker.createTopic(Broker.uniqueTopic("roundtrip"), partitions: 2, admin: admin)
        let producer = try Broker.producer()
        let sent = Envelope.probe(1)
        let report = try await producer.send(sent, to: topic, key: "model-a")
        #expect(report.topic == topic)
        #expect(report.offset >= 0)

        let joinStart = ContinuousClock.now
        let consumer = try Broker.consumer(group: Broker.uniqueGroup("roundtrip"), topics: [topic])
        try await waitUntil("the consumer joins its group") { !consumer.assignedPartitions.isEmpty }
        print("measurement: group join (sessionTimeout 6 s) took \(ContinuousClock.now - joinStart)")

        let received = try await withDeadline("receiving the message", .seconds(20)) {
            var iterator = consumer.messages.makeAsyncIterator()
            return try await iterator.next()
        }
        let message = try #require(received)
        #expect(message.topic == topic)
        #expect(message.partition == report.partition)
        #expect(message.offset == report.offset)
        #expect(message.keyString == "model-a")
        #expect(message.header("ppf-type")?.stringValue == Probe.messageType)
        #expect(message.header("ppf-message-id")?.stringValue == sent.messageId.uuidString)
        #expect(message.timestamp.map { abs($0.timeIntervalSinceNow) < 60 } == true)

        let envelope = try Envelope<Probe>.decode(message.value)
        #expect(envelope.messageId == sent.messageId)
        #expect(envelope.correlationId == sent.correlationId)
        #expect(envelope.schemaVersion == Probe.schemaVersion)
        #expect(envelope.type == Probe.messageType)
        #expect(abs(envelope.time.timeIntervalSince(sent.time)) < 0.001)
        #expect(envelope.producer == sent.producer)
        #expect(envelope.payload == sent.payload)
        try await consumer.commit(message)

        // Exactly once: nothing else arrives.
        let extra = try await withDeadline("checking for duplicates", .seconds(10)) { () -> ConsumedMessage? in
            try await withThrowingTaskGroup(of: ConsumedMessage?.self) { group in
                group.addTask {
                    var iterator = consumer.messages.makeAsyncIterator()
                    return try await iterator.next()
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(2))
                    return nil
                }
                defer { group.cancelAll() }
                return try await group.next() ?? nil
            }
        }
        #expect(extra == nil, "duplicate delivery: \(String(describing: extra))")
        await consumer.close()
        await producer.shutdown()
    }

    @Test func sendAwaitsTheBrokerAcknowledgementInOffsetOrder() async throws {
        let admin = try await Broker.admin()
        let topic = try await Broker.createTopic(Broker.uniqueTopic("latency"), partitions: 1, admin: admin)
        let producer = try Broker.producer()
        var latencies: [Duration] = []
        var offsets: [Int64] = []
        for sequence in 0..<50 {
            let start = ContinuousClock.now
            let report = try await producer.send(Envelope.probe(sequence), to: topic, key: "k")
            latencies.append(ContinuousClock.now - start)
            offsets.append(report.offset)
        }
        #expect(offsets == Array(offsets[0]..<offsets[0] + 50))
        latencies.sort()
        print("measurement: produce latency (await delivery report) p50 \(latencies[25]), p90 \(latencies[45]), max \(latencies[49])")
        try await producer.flush()
        await producer.shutdown()
    }

    /// The outbox relay's batch: every message queued, then every report
    /// awaited; the reports come back in the order given, and one
    /// partition's messages are stored in that order.
    @Test func sendAllQueuesABatchAndReportsEachInOrder() async throws {
        let admin = try await Broker.admin()
        let topic = try await Broker.createTopic(Broker.uniqueTopic("batch"), partitions: 2, admin: admin)
        let producer = try Broker.producer()
        let messages = try (0..<60).map { sequence in
            OutgoingMessage(topic: topic, key: sequence % 3 == 0 ? "a" : "b", value: try Envelope.probe(sequence).encoded())
        }
        let started = ContinuousClock.now
        let reports = await producer.sendAll(messages)
        let batchTime = ContinuousClock.now - started
        #expect(reports.count == 60)
        let delivered = reports.compactMap { try? $0.get() }
        #expect(delivered.count == 60, "every message acknowledged: \(reports.compactMap { if case .failure(let e) = $0 { e } else { nil } }.prefix(3))")
        for key in ["a", "b"] {
            let offsets = zip(messages, delivered).filter { $0.0.key == Array(key.utf8) }.map(\.1)
            #expect(Set(offsets.map(\.partition)).count == 1, "one key, one partition")
            #expect(offsets.map(\.offset) == offsets.map(\.offset).sorted(), "key \(key)'s messages stored in the order given")
        }
        print("measurement: sendAll of 60 messages took \(batchTime)")

        // A message to a topic the broker does not have fails alone; the others are delivered.
        let mixed = await producer.sendAll([
            OutgoingMessage(topic: topic, key: "a", value: try Envelope.probe(100).encoded()),
            OutgoingMessage(topic: "", key: "a", value: [1]),
            OutgoingMessage(topic: topic, key: "a", value: try Envelope.probe(101).encoded()),
        ])
        #expect((try? mixed[0].get()) != nil && (try? mixed[2].get()) != nil)
        #expect((try? mixed[1].get()) == nil, "an empty topic name cannot be produced to")

        await producer.shutdown()
        let closed = await producer.sendAll([OutgoingMessage(topic: topic, key: "a", value: [1])])
        if case .failure(let error) = closed.first { #expect(error.code == .closed) } else { Issue.record("sent after shutdown") }
    }

    @Test func sendAfterShutdownFailsAsClosed() async throws {
        let producer = try Broker.producer()
        await producer.shutdown()
        let error = await #expect(throws: BusError.self) {
            try await producer.send(topic: Broker.uniqueTopic("closed"), key: nil, value: [1])
        }
        #expect(error?.code == .closed)
    }

    @Test func slowHandlerGetsEveryMessageOnceInOrderThroughBackpressure() async throws {
        // Capacity 1 forces pause/resume cycles; nothing may be lost or repeated.
        let admin = try await Broker.admin()
        let topic = try await Broker.createTopic(Broker.uniqueTopic("backpressure"), partitions: 1, admin: admin)
        let producer = try Broker.producer()
        for sequence in 0..<30 {
            try await producer.send(Envelope.probe(sequence), to: topic, key: "k")
        }
        let consumer = try Broker.consumer(group: Broker.uniqueGroup("backpressure"), topics: [topic], bufferCapacity: 1)
        let sequences = try await withDeadline("consuming 30 messages slowly", .seconds(40)) {
            var sequences: [Int] = []
            for try await message in consumer.messages {
                sequences.append(try Envelope<Probe>.decode(message.value).payload.sequence)
                try await Task.sleep(for: .milliseconds(20))
                try await consumer.commit(message)
                if sequences.count == 30 { break }
            }
            return sequences
        }
        #expect(sequences == Array(0..<30))
        await consumer.close()
        await producer.shutdown()
    }
}
