import Foundation

// MARK: - Locked

/// A value guarded by a lock, shared between the librdkafka poll threads and
/// Swift tasks.
///
/// `Synchronization.Mutex` would do, but it needs macOS 15 and the package
/// still declares macOS 14; `NSLock` works everywhere. Critical sections are
/// short and never call into librdkafka, so holding the lock never blocks on
/// the network.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with exclusive access to the value.
    @discardableResult
    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
