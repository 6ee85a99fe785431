import Foundation
import PPFBus
import PPFContracts
import Testing

/// Group membership, failover and commit-after-success against the real broker.
@Suite(.timeLimit(.minutes(1)))
struct ConsumerGroupTests {
    /// Runs `consumer` with a handler that records each probe's sequence
    /// number (and which consumer saw it), then commits.
    private func record(_ consumer: KafkaConsumer, as name: String,
                        into recorder: Recorder<(String, Int)>) -> Task<Void, any Error> {
        Task {
            try await consumer.run { message in
                await recorder.append((name, try Envelope<Probe>.decode(message.value).payload.sequence))
            }
        }
    }

    @Test func twoMembersSplitThePartitionsAndTheSurvivorTakesOverWithoutLoss() async throws {
        let admin = try await Broker.admin()
        let topic = try await Broker.createTopic(Broker.uniqueTopic("group"), partitions: 4, admin: admin)
        let group = Broker.uniqueGroup("split")
        let producer = try Broker.producer()
        let recorder = Recorder<(String, Int)>()

        let first = try Broker.consumer(group: group, topics: [topic])
        try await waitUntil("the first member owns all 4 partitions") { first.assignedPartitions.count == 4 }
        let second = try Broker.consumer(group: group, topics: [topic])
        try await waitUntil("the members split the partitions", timeout: .seconds(40)) {
            let (a, b) = (Set(first.assignedPartitions), Set(second.assignedPartitions))
            return !a.isEmpty && !b.isEmpty && a.isDisjoint(with: b) && a.union(b).count == 4
        }
        let firstTask = record(first, as: "first", into: recorder)
        let secondTask = record(second, as: "second", into: recorder)

        // Distinct keys spread the messages over all four partitions.
        for sequence in 0..<40 {
            try await producer.send(Envelope.probe(sequence), to: topic, key: "model-\(sequence)")
        }
        try await waitUntil("all 40 messages are consumed") { await recorder.count >= 40 }
        let before = await recorder.values
        #expect(Set(before.map(\.1)) == Set(0..<40))
        #expect(before.contains { $0.0 == "first" } && before.contains { $0.0 == "second" },
                "both members must have worked")

        let closeStart = ContinuousClock.now
        await second.close()
        let closeDuration = ContinuousClock.now - closeStart
        try await secondTask.value
        try await waitUntil("the survivor owns all 4 partitions", timeout: .seconds(30)) {
            first.assignedPartitions.count == 4
        }
        print("measurement: close() took \(closeDuration); the survivor owned all partitions \(ContinuousClock.now - closeStart) after close() began")
        for sequence in 40..<80 {
            try await producer.send(Envelope.probe(sequence), to: topic, key: "model-\(sequence)")
        }
        try await waitUntil("the survivor consumes the next 40", timeout: .seconds(30)) {
            Set(await recorder.values.map(\.1)).isSuperset(of: 40..<80)
        }
        let after = await recorder.values
        #expect(Set(after.map(\.1)) == Set(0..<80), "no message lost")
        #expect(after.filter { $0.1 >= 40 }.allSatisfy { $0.0 == "first" })

        await first.close()
        try await firstTask.value
        await producer.shutdown()
    }

    @Test func messageWhoseHandlerFailedIsRedeliveredToTheNextMemberAndCommittedOnesAreNot() async throws {
        let admin = try await Broker.admin()
        let topic = try await Broker.createTopic(Broker.uniqueTopic("commit"), partitions: 1, admin: admin)
        let group = Broker.uniqueGroup("commit")
        let producer = try Broker.producer()
        try await producer.send(Envelope.probe(1), to: topic, key: "k")

        // 1. The handler fails every time: nothing is committed.
        let failing = try Broker.consumer(group: group, topics: [topic])
        let attempts = Recorder<Int>()
        let failingTask = Task {
            try await failing.run(retryBackoff: .milliseconds(200)) { message in
                await attempts.append(try Envelope<Probe>.decode(message.value).payload.sequence)
                throw TestFailure("handler failure on purpose")
            }
        }
        try await waitUntil("the failing handler saw the message twice (redelivered after rewind)") {
            await attempts.count >= 2
        }
        #expect(Set(await attempts.values) == [1])
        await failing.close()
        try await failingTask.value

        // 2. A new member of the group gets the same message, and commits it.
        let succeeding = try Broker.consumer(group: group, topics: [topic])
        let redelivered = try await withDeadline("redelivery to the next member", .seconds(30)) {
            var iterator = succeeding.messages.makeAsyncIterator()
            return try await iterator.next()
        }
        let message = try #require(redelivered)
        #expect(try Envelope<Probe>.decode(message.value).payload.sequence == 1)
        try await succeeding.commit(message)
        await succeeding.close()

        // 3. After the commit, the group moves on to the next message.
        try await producer.send(Envelope.probe(2), to: topic, key: "k")
        let next = try Broker.consumer(group: group, topics: [topic])
        let following = try await withDeadline("the message after the committed one", .seconds(30)) {
            var iterator = next.messages.makeAsyncIterator()
            return try await iterator.next()
        }
        #expect(try following.map { try Envelope<Probe>.decode($0.value).payload.sequence } == 2)
        await next.close()
        await producer.shutdown()
    }

    @Test func closingEndsTheMessageSequenceAndCommitsAreRefusedAfterwards() async throws {
        let admin = try await Broker.admin()
        let topic = try await Broker.createTopic(Broker.uniqueTopic("close"), partitions: 1, admin: admin)
        let consumer = try Broker.consumer(group: Broker.uniqueGroup("close"), topics: [topic])
        let reader = Task {
            var count = 0
            for try await _ in consumer.messages { count += 1 }
            return count
        }
        try await Task.sleep(for: .milliseconds(300))
        await consumer.close()
        #expect(try await reader.value == 0)
        let error = await #expect(throws: BusError.self) {
            try await consumer.commit(ConsumedMessage(topic: topic, partition: 0, offset: 0, key: nil, value: []))
        }
        #expect(error?.code == .closed)
        await consumer.close()  // idempotent
    }
}
