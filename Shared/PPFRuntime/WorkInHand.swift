import Foundation

// MARK: - WorkInHand

/// Whether a consumer has a message in hand, and since when it has had none:
/// what a reconciliation pass asks before it announces work again, so that a
/// service busy with a backlog (whose messages are on their way) is left alone.
public final class WorkInHand: @unchecked Sendable {
    // @unchecked: `count` and `since` are guarded by `lock`.
    private let lock = NSLock()
    private var count = 0
    private var since = ContinuousClock.now

    /// Nothing in hand, idle from now.
    public init() {}

    /// Runs `work` as one message in hand.
    public func holding<Value: Sendable>(_ work: () async throws -> Value) async rethrows -> Value {
        lock.withLock {
            count += 1
            since = .now
        }
        defer {
            lock.withLock {
                count -= 1
                since = .now
            }
        }
        return try await work()
    }

    /// How long nothing has been in hand, or nil while something is.
    public var idleFor: Duration? {
        lock.withLock { count == 0 ? ContinuousClock.now - since : nil }
    }
}
