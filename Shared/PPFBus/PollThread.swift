import Foundation

// MARK: - PollThread

/// A dedicated OS thread for librdkafka's blocking poll loops.
///
/// `rd_kafka_poll` and `rd_kafka_consumer_poll` block for up to their
/// timeout; on Swift's cooperative pool (two threads on these machines) that
/// would starve every other task. The thread runs `body` once; `body` loops
/// until it sees its own stop condition. ``join()`` awaits its end without
/// blocking a pool thread.
final class PollThread: Sendable {
    private enum State {
        case running(joiners: [CheckedContinuation<Void, Never>])
        case exited
    }

    private let state = Locked(State.running(joiners: []))

    private init() {}

    /// Starts a thread named `name` that runs `body`.
    ///
    /// `body` is released on the thread before ``join()`` returns. Its
    /// captures own librdkafka handles (the producer's or consumer's client);
    /// were they released later, with the `Thread` object as it tears down,
    /// `rd_kafka_destroy` would run on a dying thread at a time nobody
    /// awaits, and a process returning from `main` meanwhile exits while
    /// librdkafka's threads still run, which crashes it now and then
    /// (SIGSEGV during exit; issue 11).
    static func start(name: String, _ body: @escaping @Sendable () -> Void) -> PollThread {
        let pollThread = PollThread()
        let work = Locked<(@Sendable () -> Void)?>(body)
        let thread = Thread {
            // Taken out of the box and dropped at the end of this scope, so
            // the captures are released here, before anyone is told.
            func runOnce() {
                guard let body = work.withLock({ box in defer { box = nil }; return box }) else { return }
                body()
            }
            runOnce()
            pollThread.markExited()
        }
        thread.name = name
        thread.start()
        return pollThread
    }

    /// Whether `body` has returned.
    var hasExited: Bool {
        state.withLock { if case .exited = $0 { true } else { false } }
    }

    /// Suspends until `body` has returned.
    func join() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let exited = state.withLock { state -> Bool in
                switch state {
                case .running(var joiners):
                    joiners.append(continuation)
                    state = .running(joiners: joiners)
                    return false
                case .exited:
                    return true
                }
            }
            if exited { continuation.resume() }
        }
    }

    /// Suspends until `body` has returned or `limit` has passed; whether it returned.
    /// librdkafka's close can wait for a lost group coordinator without end
    /// (confluentinc/librdkafka#3740), so shutdown must not wait for it forever.
    func join(within limit: Duration) async -> Bool {
        await firstOf(limit: limit, timedOut: false) { await self.join(); return true }
    }

    private func markExited() {
        let joiners = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard case .running(let joiners) = state else { return [] }
            state = .exited
            return joiners
        }
        for joiner in joiners { joiner.resume() }
    }
}

// MARK: - Blocking queue

/// Runs one-off blocking librdkafka calls (commit, flush, admin requests,
/// metadata) off the cooperative pool and bridges the result back.
enum BlockingCalls {
    private static let queue = DispatchQueue(label: "ppf.bus.blocking", attributes: .concurrent)

    /// Runs `work` on the blocking queue and returns its result.
    static func run<Result: Sendable>(_ work: @escaping @Sendable () throws(BusError) -> Result) async throws(BusError) -> Result {
        let outcome: Swift.Result<Result, BusError> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(BusError) {
                    continuation.resume(returning: .success(try work()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try outcome.get()
    }

    /// Runs `work` on the blocking queue; gives up waiting after `limit`
    /// (the call keeps its thread until librdkafka returns) and throws `timedOut`.
    static func run<Result: Sendable>(within limit: Duration, timedOut: BusError,
                                      _ work: @escaping @Sendable () throws(BusError) -> Result) async throws(BusError) -> Result {
        let outcome: Swift.Result<Result, BusError> = await firstOf(limit: limit, timedOut: .failure(timedOut)) {
            do throws(BusError) {
                return .success(try await run(work))
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }
}

/// `work`'s result, or `timedOut` once `limit` passes first (work goes on, unawaited).
func firstOf<Value: Sendable>(limit: Duration, timedOut: Value, _ work: @escaping @Sendable () async -> Value) async -> Value {
    let once = ResumeOnce<Value>()
    return await withCheckedContinuation { (continuation: CheckedContinuation<Value, Never>) in
        once.set(continuation)
        // The timer is cancelled as soon as the work finishes, so a fast call (every commit) leaves
        // no sleeping task behind for `limit`.
        let timer = Task {
            try? await Task.sleep(for: limit)
            if !Task.isCancelled { once.resume(with: timedOut) }
        }
        Task {
            let value = await work()
            timer.cancel()
            once.resume(with: value)
        }
    }
}

/// A continuation resumed by whichever caller comes first.
private final class ResumeOnce<Value: Sendable>: @unchecked Sendable {
    // @unchecked: `continuation` is guarded by `lock`.
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Value, Never>?

    func set(_ continuation: CheckedContinuation<Value, Never>) { lock.withLock { self.continuation = continuation } }

    func resume(with value: Value) {
        let taken = lock.withLock { () -> CheckedContinuation<Value, Never>? in
            defer { continuation = nil }
            return continuation
        }
        taken?.resume(returning: value)
    }
}
