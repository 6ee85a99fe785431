import CLibPQ
import Foundation

extension PGConnection {
    // MARK: - LISTEN / NOTIFY

    /// Subscribes this connection to a notification channel.
    func listen(_ channel: String) async throws {
        try await execute("LISTEN \(identifier: channel)")
    }

    /// Waits until a notification arrives on a channel this connection listens
    /// to, the timeout passes, or the task is cancelled; returns the channels
    /// notified (empty on timeout or cancellation).
    ///
    /// The wait runs on the connection's queue in short `poll(2)` slices so a
    /// cancelled task is released within about 50 ms. Use a dedicated
    /// connection: the queue is busy for the whole wait.
    /// - Throws: ``StoreError`` `connectionFailure` if the connection broke.
    func waitForNotifications(timeout: Duration) async throws -> [String] {
        let cancelled = CancellationFlag()
        let deadline = ContinuousClock.now + timeout
        return try await withTaskCancellationHandler {
            try await onQueue { handle in
                try Self.awaitNotifications(on: handle, until: deadline, cancelled: cancelled)
            }
        } onCancel: {
            cancelled.set()
        }
    }

    private static func awaitNotifications(on handle: OpaquePointer, until deadline: ContinuousClock.Instant,
                                           cancelled: CancellationFlag) throws -> [String] {
        let socket = PQsocket(handle)
        guard socket >= 0 else { throw connectionError(handle, query: nil) }
        while true {
            guard PQconsumeInput(handle) == 1 else { throw connectionError(handle, query: nil) }
            var channels: [String] = []
            while let notification = PQnotifies(handle) {
                channels.append(String(cString: notification.pointee.relname))
                PQfreemem(notification)
            }
            if !channels.isEmpty { return channels }
            let remaining = deadline - ContinuousClock.now
            if cancelled.isSet || remaining <= .zero { return [] }
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let slice = Int32(min(remaining.wholeMilliseconds, 50))
            if poll(&descriptor, 1, slice) < 0 && errno != EINTR {
                throw StoreError(.connectionFailure, "poll(2) on the PostgreSQL socket failed: \(String(cString: strerror(errno)))")
            }
        }
    }
}

/// A flag set from a cancellation handler and read on the connection's queue.
final class CancellationFlag: @unchecked Sendable {
    // @unchecked: `value` is guarded by `lock`.
    private let lock = NSLock()
    private var value = false

    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
