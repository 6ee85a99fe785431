import Testing
@testable import PPFBus

/// The consumer's lifecycle and buffer rules, without a broker. Elements are
/// offsets, waiters are names.
@Suite struct ConsumerStateMachineTests {
    typealias Machine = ConsumerStateMachine<Int, String>

    private func running(capacity: Int = 4) -> Machine {
        var machine = Machine(capacity: capacity)
        #expect(machine.start() == .startPolling)
        return machine
    }

    @Test func startsOnceFromIdle() {
        var machine = Machine(capacity: 2)
        #expect(machine.lifecycle == .idle)
        #expect(machine.start() == .startPolling)
        #expect(machine.lifecycle == .running)
        #expect(machine.start() == .ignore)
    }

    @Test func bufferedMessagesAreReadInOrder() {
        var machine = running()
        guard case .buffered = machine.received(1), case .buffered = machine.received(2) else {
            Issue.record("expected buffering"); return
        }
        guard case .element(1, wakePoller: false) = machine.next(waiter: "r") else { Issue.record("expected 1"); return }
        guard case .element(2, wakePoller: false) = machine.next(waiter: "r") else { Issue.record("expected 2"); return }
        guard case .suspended = machine.next(waiter: "r") else { Issue.record("expected suspension"); return }
    }

    @Test func aBatchTakesWhatIsBufferedInOrderUpToItsLimitWithoutWaiting() {
        var machine = running(capacity: 4)
        #expect(machine.takeBuffered(upTo: 3).elements.isEmpty, "nothing buffered: nothing taken, nobody waits")
        for offset in 0..<4 { _ = machine.received(offset) }
        #expect(machine.nextPollAction() == .pauseThenPoll)
        let first = machine.takeBuffered(upTo: 3)
        #expect(first.elements == [0, 1, 2])
        #expect(first.wakePoller, "drained to half while paused: fetching resumes")
        #expect(machine.bufferedBytes == 0)
        #expect(machine.takeBuffered(upTo: 3).elements == [3])
        #expect(machine.takeBuffered(upTo: 0).elements.isEmpty)
        _ = machine.received(9)
        _ = machine.close()
        #expect(machine.takeBuffered(upTo: 3).elements.isEmpty, "a closing consumer hands out nothing")
    }

    @Test func aWaitingReaderGetsTheNextMessageDirectly() {
        var machine = running()
        guard case .suspended = machine.next(waiter: "reader") else { Issue.record("expected suspension"); return }
        guard case .resume("reader", 7) = machine.received(7) else { Issue.record("expected hand-off"); return }
        #expect(machine.buffer.isEmpty)
    }

    @Test func fullBufferPausesFetchingAndHalfEmptyResumesIt() {
        var machine = running(capacity: 4)
        #expect(machine.nextPollAction() == .poll)
        for offset in 0..<4 { _ = machine.received(offset) }
        #expect(machine.nextPollAction() == .pauseThenPoll)
        #expect(machine.isPaused)
        #expect(machine.nextPollAction() == .poll, "polling continues while paused, to serve rebalances")
        #expect(machine.assigned() == .pause, "partitions assigned while paused start paused")
        guard case .element(0, wakePoller: false) = machine.next(waiter: "r") else { Issue.record("expected 0"); return }
        guard case .element(1, wakePoller: true) = machine.next(waiter: "r") else { Issue.record("expected 1 + wake"); return }
        #expect(machine.nextPollAction() == .resumeThenPoll)
        #expect(!machine.isPaused)
        #expect(machine.assigned() == .fetch)
    }

    /// Few but large messages pause fetching by their bytes; the element is
    /// its own size here.
    @Test func largeMessagesPauseByBytesAndResumeOnceHalfTheBytesAreRead() {
        var machine = Machine(capacity: 100, byteCapacity: 1_000) { $0 }
        _ = machine.start()
        _ = machine.received(600)
        #expect(machine.nextPollAction() == .poll)
        _ = machine.received(450)
        #expect(machine.bufferedBytes == 1_050)
        #expect(machine.nextPollAction() == .pauseThenPoll, "1050 bytes of 1000 wait, though only 2 of 100 messages")
        guard case .element(600, wakePoller: true) = machine.next(waiter: "r") else { Issue.record("expected 600 + wake"); return }
        #expect(machine.bufferedBytes == 450)
        #expect(machine.nextPollAction() == .resumeThenPoll)
        _ = machine.discard { _ in true }
        #expect(machine.bufferedBytes == 0)
    }

    @Test func messagesFetchedBeforeThePauseTookEffectAreStillKept() {
        var machine = running(capacity: 1)
        _ = machine.received(1)
        #expect(machine.nextPollAction() == .pauseThenPoll)
        guard case .buffered = machine.received(2) else { Issue.record("a straggler must not be lost"); return }
        #expect(machine.buffer == [1, 2])
    }

    @Test func discardDropsOnlyMatchingMessages() {
        var machine = running(capacity: 8)
        for offset in [10, 11, 20, 12, 21] { _ = machine.received(offset) }
        #expect(machine.discard { $0 >= 20 } == 2)
        #expect(machine.buffer == [10, 11, 12])
    }

    @Test func closeEndsTheReaderDropsTheBufferAndAsksThePollerToLeave() {
        var machine = running()
        _ = machine.next(waiter: "reader")
        guard case .wakePoller("reader") = machine.close() else { Issue.record("expected wake + reader"); return }
        #expect(machine.lifecycle == .closing)
        #expect(machine.nextPollAction() == .close)
        guard case .dropped = machine.received(5) else { Issue.record("no delivery while closing"); return }
        #expect(machine.buffer.isEmpty)
        guard case .finished(nil) = machine.next(waiter: "late") else { Issue.record("sequence must end"); return }
        #expect(machine.closed() == nil)
        #expect(machine.lifecycle == .finished)
        #expect(machine.nextPollAction() == .exit)
        guard case .awaitPoller = machine.close() else { Issue.record("close is idempotent"); return }
    }

    @Test func closingBeforeStartFinishesImmediately() {
        var machine = Machine(capacity: 1)
        guard case .finishNow(nil) = machine.close() else { Issue.record("expected immediate finish"); return }
        #expect(machine.lifecycle == .finished)
        #expect(machine.start() == .ignore)
        #expect(machine.nextPollAction() == .exit)
    }

    @Test func fatalErrorIsThrownOnceThenTheSequenceEnds() {
        var machine = running()
        _ = machine.received(1)
        #expect(machine.failed(BusError(.fatal, "boom")) == nil)
        #expect(machine.nextPollAction() == .close)
        guard case .finished(let error?) = machine.next(waiter: "r"), error.code == .fatal else {
            Issue.record("expected the fatal error"); return
        }
        guard case .finished(nil) = machine.next(waiter: "r") else { Issue.record("then a plain end"); return }
    }

    @Test func cancellingTheReaderReturnsItsWaiterOnce() {
        var machine = running()
        _ = machine.next(waiter: "reader")
        #expect(machine.cancelWaiter() == "reader")
        #expect(machine.cancelWaiter() == nil)
        guard case .buffered = machine.received(3) else { Issue.record("no waiter left; must buffer"); return }
    }
}
