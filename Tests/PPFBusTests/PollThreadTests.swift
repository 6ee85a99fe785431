import Foundation
@testable import PPFBus
import Testing

/// The poll thread's body owns the librdkafka client; the client must be
/// gone from the thread once `join()` returns, so that whoever drops the
/// producer or consumer next destroys the handle there and then, not the
/// dying thread at some later moment the process may exit during (issue 11:
/// `ppf bootstrap` killed by SIGSEGV at exit).
@Suite struct PollThreadTests {
    /// Stands in for the client a poll loop captures.
    final class Captured: Sendable {}

    @Test func theBodysCapturesAreReleasedBeforeJoinReturns() async {
        // Many rounds: the thread's own teardown, which used to release the
        // body, races with the joiner, so a single round could pass by luck.
        for round in 0..<200 {
            weak var released: Captured?
            var thread: PollThread?
            do {
                let captured = Captured()
                released = captured
                thread = PollThread.start(name: "ppf.test.poll-\(round)") {
                    withExtendedLifetime(captured) {}
                }
            }
            await thread?.join()
            #expect(released == nil, "round \(round): the body still held its captures after join()")
            if released != nil { return }
        }
    }

    @Test func joinWithinGivesUpOnABodyThatDoesNotReturn() async {
        // No wall-clock bound here: on a loaded 2-core runner the timer's task can wait seconds for
        // a cooperative thread. The body never returns before `release`, so `false` alone proves the
        // join gave up instead of waiting for it.
        let release = DispatchSemaphore(value: 0)
        let thread = PollThread.start(name: "ppf.test.poll-stuck") { release.wait() }
        #expect(await thread.join(within: .milliseconds(200)) == false)
        release.signal()
        #expect(await thread.join(within: .seconds(10)))
    }

    @Test func firstOfAnswersWithTheWorkWhenItFinishesInTime() async {
        // An hour-long limit: answering at all (with the work's value) proves the timer was not
        // waited for, with no wall-clock bound a loaded runner could break.
        let value = await firstOf(limit: .seconds(3600), timedOut: -1) { 7 }
        #expect(value == 7)
    }

    @Test func firstOfAnswersTimedOutWhenTheWorkIsSlow() async {
        let value = await firstOf(limit: .milliseconds(50), timedOut: -1) {
            try? await Task.sleep(for: .seconds(2))
            return 7
        }
        #expect(value == -1)
    }
}
