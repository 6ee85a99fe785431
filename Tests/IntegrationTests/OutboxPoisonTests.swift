import Foundation
import PPFBus
import PPFContracts
import PPFRuntime
import PPFStore
import PPFTestSupport
import Testing

/// Issue 16 §2: an outbox entry the broker can never take (a topic PPF does
/// not have, a message over the broker's size limit) is set aside with a dead
/// letter, and the entries behind it are published. Before, the relay retried
/// the first such entry forever and nothing after it left the outbox.
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(2)))) struct OutboxPoisonTests {
    struct Note: MessagePayload, Equatable {
        static let messageType = "it-outbox-note"
        static let schemaVersion = 1
        var text: String
    }

    @Test func poisonEntriesAreSetAsideAndTheEntriesBehindThemArePublished() async throws {
        try await IsolatedDatabase.with { database in
            let context = try await ServiceContext.start(serviceName: "it-outbox",
                                                         settings: try database.settings(service: "it-outbox"))
            let recorder = try await TopicRecorder(topic: Topic.ratioRejections)
            let marker = "poison-\(UUID().uuidString.prefix(8))"
            let note = { (text: String) in Envelope(correlationId: UUID(), producer: "it", payload: Note(text: "\(marker) \(text)")) }
            let oversized = note(String(repeating: "x", count: 2_000_000))
            do {
                try await context.pool.withTransaction { connection in
                    try await context.enqueue(note("first"), topic: Topic.ratioRejections, key: marker, on: connection)
                    try await context.enqueue(note("lost topic"), topic: "ppf.no-such-topic", key: marker, on: connection)
                    try await context.enqueue(oversized, topic: Topic.ratioRejections, key: marker, on: connection)
                    try await context.enqueue(note("last"), topic: Topic.ratioRejections, key: marker, on: connection)
                }
                let relay = context.makeOutboxRelay()
                let started = ContinuousClock.now
                #expect(try await relay.publishPending(), "the relay drained the outbox")
                #expect(ContinuousClock.now - started < TestDeadlines.scaled(.seconds(20)), "no waiting on an entry that can never be sent")

                #expect(try await eventually(within: .seconds(20)) {
                    recorder.messages(containing: marker).count == 2
                }, "both good entries reach the topic")
                let texts = try recorder.messages(containing: marker).map { try Envelope<Note>.decode($0.value).payload.text }
                #expect(texts == ["\(marker) first", "\(marker) last"], "in order, and nothing else")

                #expect(try await database.count("SELECT count(*)::int FROM outbox WHERE published_at IS NOT NULL") == 2)
                #expect(try await database.count("""
                    SELECT count(*)::int FROM outbox WHERE failed_at IS NOT NULL AND published_at IS NULL
                       AND ((topic = 'ppf.no-such-topic' AND failure LIKE '%is not a PPF topic%')
                         OR (message_id = \(oversized.messageId) AND failure LIKE '%MSG_SIZE_TOO_LARGE%'))
                    """) == 2, "each poison entry is set aside with its reason")
                #expect(try await database.count("""
                    SELECT count(*)::int FROM dead_letters WHERE consumer = \(OutboxRelay.deadLetterConsumer)
                       AND key = \(marker) AND partition IS NULL
                    """) == 2, "and dead-lettered, payload kept")
                #expect(try await context.pool.withConnection { try await Outbox.unpublishedCount(on: $0) } == 0)
                // A second drain finds nothing to do: the poison is not retried.
                #expect(try await relay.publishPending())
                #expect(try await database.count("SELECT count(*)::int FROM dead_letters") == 2)
            } catch {
                await recorder.stop()
                await context.shutdown()
                throw error
            }
            await recorder.stop()
            await context.shutdown()
        }
    }
}
