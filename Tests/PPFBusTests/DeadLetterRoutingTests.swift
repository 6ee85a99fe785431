import Foundation
import PPFBus
import PPFContracts
import Testing

/// Bad messages reach the dead-letter topic and the hook; good ones keep flowing.
@Suite(.timeLimit(.minutes(1)))
struct DeadLetterRoutingTests {
    @Test func malformedAndUnknownVersionMessagesAreDeadLetteredAndConsumingContinues() async throws {
        let admin = try await Broker.admin()
        let topic = try await Broker.createTopic(Broker.uniqueTopic("input"), partitions: 1, admin: admin)
        let deadLetterTopic = try await Broker.createTopic(Broker.uniqueTopic("dead"), partitions: 1, admin: admin)
        let group = Broker.uniqueGroup("dlq")
        let producer = try Broker.producer()

        let future = Envelope<Probe>(correlationId: UUID(), type: Probe.messageType, schemaVersion: 99,
                                     producer: "bus-tests/future", payload: Probe(sequence: -1, note: "from the future"))
        let outOfRange = Envelope.probe(-5)
        let inputs: [(key: String, value: [UInt8])] = [
            ("a", try Envelope.probe(1).encoded()),
            ("b", Array("{not json".utf8)),
            ("c", try future.encoded()),
            ("d", [0xff, 0xfe, 0x00]),
            ("e", try outOfRange.encoded()),
            ("f", try Envelope.probe(2).encoded()),
        ]
        var offsets: [String: Int64] = [:]
        for input in inputs {
            offsets[input.key] = try await producer.send(topic: topic, key: input.key, value: input.value).offset
        }

        let consumer = try Broker.consumer(group: group, topics: [topic])
        let handled = Recorder<Int>()
        let hooked = Recorder<DeadLetter>()
        let envelopes = EnvelopeConsumer<Probe>(
            consumer: consumer, producer: producer, producerName: "bus-tests/dlq",
            deadLetterTopic: deadLetterTopic, logger: Broker.logger
        ) { letter, _ in
            await hooked.append(letter)
        }
        let running = Task {
            try await envelopes.run { envelope, _ in
                // Values out of range are rejected by the handler itself.
                guard envelope.payload.sequence >= 0 else {
                    throw EnvelopeRejection.invalidPayload("sequence \(envelope.payload.sequence) is negative")
                }
                await handled.append(envelope.payload.sequence)
            }
        }
        try await waitUntil("both good messages are handled and four dead letters recorded") {
            let handledCount = await handled.count
            let hookedCount = await hooked.count
            return handledCount >= 2 && hookedCount >= 4
        }
        #expect(await handled.values == [1, 2], "the consumer kept consuming after the bad messages")

        // The dead-letter topic holds the same four records, with reasons.
        let reader = try Broker.consumer(group: Broker.uniqueGroup("dlq-reader"), topics: [deadLetterTopic])
        let published = try await withDeadline("reading the dead-letter topic", .seconds(30)) {
            var letters: [Envelope<DeadLetter>] = []
            for try await message in reader.messages {
                letters.append(try Envelope<DeadLetter>.decode(message.value))
                if letters.count == 4 { break }
            }
            return letters
        }
        let byKey = Dictionary(uniqueKeysWithValues: published.map { ($0.payload.key ?? "", $0.payload) })
        #expect(Set(byKey.keys) == ["b", "c", "d", "e"])
        for letter in published.map(\.payload) {
            #expect(letter.originalTopic == topic)
            #expect(letter.partition == 0)
            #expect(letter.consumerGroup == group)
            #expect(letter.offset == offsets[letter.key ?? ""])
        }
        #expect(byKey["b"]?.reason.hasPrefix("malformed message") == true)
        #expect(byKey["b"]?.value == "{not json")
        #expect(byKey["c"]?.reason == "unsupported schema version 99 for 'bus-test-probe' (this build understands 1)")
        #expect(byKey["d"]?.valueEncoding == .base64)
        #expect(byKey["d"]?.valueBytes == [0xff, 0xfe, 0x00])
        #expect(byKey["e"]?.reason == "invalid payload: sequence -5 is negative")
        #expect(published.first { $0.payload.key == "c" }?.correlationId == future.correlationId,
                "a readable header keeps the request traceable")
        #expect(Set(await hooked.values.map(\.offset)) == Set(byKey.values.map(\.offset)))

        await reader.close()
        await consumer.close()
        try await running.value
        await producer.shutdown()
    }

    /// A message whose handler always fails (not a rejection) is dead-lettered
    /// after `maxAttempts` tries, and the next message on its partition is
    /// handled; an 800 KB binary message becomes a letter that fits the broker.
    @Test func aPoisonMessageIsDeadLetteredAfterBoundedRetriesAndAHugeOneFitsTheBroker() async throws {
        struct Poison: Error, CustomStringConvertible { var description: String { "value too large for column" } }
        let admin = try await Broker.admin()
        let topic = try await Broker.createTopic(Broker.uniqueTopic("poison"), partitions: 1, admin: admin)
        let deadLetterTopic = try await Broker.createTopic(Broker.uniqueTopic("poison-dead"), partitions: 1, admin: admin)
        let producer = try Broker.producer()
        let huge = [UInt8](repeating: 0xff, count: 800_000)
        _ = try await producer.send(topic: topic, key: "m", value: try Envelope.probe(13).encoded())
        _ = try await producer.send(topic: topic, key: "m", value: huge)
        _ = try await producer.send(topic: topic, key: "m", value: try Envelope.probe(14).encoded())

        let consumer = try Broker.consumer(group: Broker.uniqueGroup("poison"), topics: [topic])
        let handled = Recorder<Int>()
        let attempts = Recorder<Int>()
        let hooked = Recorder<DeadLetter>()
        let envelopes = EnvelopeConsumer<Probe>(
            consumer: consumer, producer: producer, producerName: "bus-tests/poison",
            deadLetterTopic: deadLetterTopic, logger: Broker.logger
        ) { letter, _ in
            await hooked.append(letter)
        }
        let running = Task {
            try await envelopes.run(retryBackoff: .milliseconds(20), maxAttempts: 3) { envelope, _ in
                if envelope.payload.sequence == 13 {
                    await attempts.append(13)
                    throw Poison()
                }
                await handled.append(envelope.payload.sequence)
            }
        }
        try await waitUntil("the message after the poison is handled") { await handled.count >= 1 }
        #expect(await handled.values == [14])
        #expect(await attempts.count == 3, "three attempts, then no more")
        let letters = await hooked.values
        #expect(letters.count == 2)
        #expect(letters.first?.reason == "the handler failed 3 times in a row; last error: value too large for column")
        #expect(letters.last?.originalValueLength == 800_000)
        #expect(letters.last?.valueBytes?.count == DeadLetter.maximumValueBytes)

        // Both letters reached the dead-letter topic.
        let reader = try Broker.consumer(group: Broker.uniqueGroup("poison-reader"), topics: [deadLetterTopic])
        let published = try await withDeadline("reading the dead-letter topic", .seconds(30)) {
            var count = 0
            for try await _ in reader.messages {
                count += 1
                if count == 2 { break }
            }
            return count
        }
        #expect(published == 2)
        await reader.close()
        await consumer.close()
        try await running.value
        await producer.shutdown()
    }
}
