import Dispatch

/// A serial dispatch queue for CPU-bound or blocking work (training a
/// predictor, a BLAS batch, a forward pass), so it never occupies a thread of
/// Swift's cooperative pool (style habit 3). Jobs run one at a time, in order.
public final class BlockingQueue: Sendable {
    private let queue: DispatchQueue

    /// Creates a queue; `label` names its thread in debuggers and profiles.
    public init(label: String) {
        queue = DispatchQueue(label: label, qos: .userInitiated)
    }

    /// Runs `work` on the queue and returns its result to the awaiting task.
    ///
    /// Cancelling the awaiting task does not interrupt `work` (it is not
    /// cooperative); the result is then still returned.
    public func run<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try work() })
            }
        }
    }
}
