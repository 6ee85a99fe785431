import Foundation
import Testing
@testable import PPFRuntime

@Suite struct WorkInHandTests {
    @Test func itIsIdleOnlyWithNothingInHandAndCountsFromTheLastMessage() async throws {
        let work = WorkInHand()
        #expect(work.idleFor != nil)
        let gate = AsyncStream<Void>.makeStream()
        let started = AsyncStream<Void>.makeStream()
        let held = Task {
            await work.holding {
                started.continuation.yield()
                for await _ in gate.stream { break }
            }
        }
        for await _ in started.stream { break }
        #expect(work.idleFor == nil, "a message is in hand")
        try await Task.sleep(for: .seconds(1))
        #expect(work.idleFor == nil)
        gate.continuation.yield()
        await held.value
        let idle = try #require(work.idleFor)
        // The message was in hand for over a second: idle counts from its end, not its start.
        #expect(idle < .seconds(1), "\(idle)")
        try await Task.sleep(for: .milliseconds(60))
        #expect(try #require(work.idleFor) >= .milliseconds(60))
    }

    @Test func aThrowingMessageStillLeavesTheHand() async {
        struct Failure: Error {}
        let work = WorkInHand()
        await #expect(throws: Failure.self) { try await work.holding { throw Failure() } }
        #expect(work.idleFor != nil)
    }
}
