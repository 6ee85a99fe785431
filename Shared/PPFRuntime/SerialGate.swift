import Foundation

// MARK: - SerialGate

/// Lets one async body run at a time, in arrival order, across suspension
/// points, which an actor alone does not: an actor is reentrant, so two
/// calls that each await a long training interleave. The agent's registry
/// (one agent preparation at a time) and the predictor's trainer (one
/// training decision at a time) hold one each.
///
/// The body runs in the caller's isolation (`#isolation`), so inside an
/// actor it reads and writes the actor's state directly.
public final class SerialGate: @unchecked Sendable {
    // @unchecked: `busy` and `waiting` are guarded by `lock`.
    private let lock = NSLock()
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// An open gate.
    public init() {}

    /// Waits for the gate, runs `body`, and lets the next waiter in, also when `body` throws.
    public func run<Value>(isolation: isolated (any Actor)? = #isolation,
                           _ body: () async throws -> Value) async throws -> Value {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let enter = lock.withLock { () -> Bool in
                if busy {
                    waiting.append(continuation)
                    return false
                }
                busy = true
                return true
            }
            if enter { continuation.resume() }
        }
        defer { leave() }
        return try await body()
    }

    /// Hands the gate to the first waiter, or opens it.
    private func leave() {
        let next = lock.withLock { () -> CheckedContinuation<Void, Never>? in
            if waiting.isEmpty {
                busy = false
                return nil
            }
            return waiting.removeFirst()
        }
        next?.resume()
    }
}
