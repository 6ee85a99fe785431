import Logging

/// A small pool of at most ``size`` connections, opened lazily.
///
/// ``withConnection(isolation:_:)`` lends a connection exclusively for the
/// closure and takes it back afterwards, rolling back a transaction the
/// closure left open. A connection found broken when it is handed out
/// (server restart, `pg_terminate_backend`) is re-opened with `PQreset`
/// first, so callers only see the one statement that hit the break fail
/// (with a retriable ``StoreError``), and the next acquire works again.
public actor PGPool {
    /// Where the connections go.
    public nonisolated let configuration: PostgresConfiguration
    /// Most connections open at once.
    public nonisolated let size: Int
    private let logger: Logger
    private var idle: [PGConnection] = []
    /// Connections that may still be handed out (idle or not yet opened).
    private var permits: Int
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    private var nextWaiterID: UInt64 = 0
    private var isClosed = false

    /// Creates a pool; no connection is opened until one is needed.
    /// - Parameter size: most connections open at once. Default 4.
    public init(configuration: PostgresConfiguration, size: Int = 4, logger: Logger) {
        precondition(size >= 1, "a pool needs at least one connection")
        self.configuration = configuration
        self.size = size
        self.permits = size
        self.logger = logger
    }

    // MARK: - Borrowing

    /// Lends a connection for the duration of `body`, waiting if all are busy.
    /// - Throws: ``StoreError`` `connectionFailure` if no connection can be
    ///   opened, `poolClosed` after ``close()``, or `body`'s error.
    @discardableResult
    public func withConnection<Value>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PGConnection) async throws -> Value
    ) async throws -> Value {
        let connection = try await acquire()
        let value: Value
        do {
            value = try await body(connection)
        } catch {
            await release(connection)
            throw error
        }
        await release(connection)
        return value
    }

    /// Runs `body` in a transaction on a borrowed connection; see
    /// ``PGConnection/withTransaction(isolation:_:retries:_:)``.
    @discardableResult
    public func withTransaction<Value>(
        isolation: isolated (any Actor)? = #isolation,
        _ level: IsolationLevel = .readCommitted,
        retries: Int = 0,
        _ body: (PGConnection) async throws -> Value
    ) async throws -> Value {
        try await withConnection { connection in
            try await connection.withTransaction(level, retries: retries, body)
        }
    }

    /// Closes idle connections and fails waiters; borrowed connections close
    /// when they come back.
    public func close() {
        isClosed = true
        idle.removeAll()
        let pending = waiters
        waiters.removeAll()
        for waiter in pending {
            waiter.continuation.resume(throwing: StoreError(.poolClosed, "the connection pool was closed while waiting for a connection"))
        }
    }

    // MARK: - Acquire and release

    private func acquire() async throws -> PGConnection {
        try await takePermit()
        do {
            return try await usableConnection()
        } catch {
            returnPermit()
            throw error
        }
    }

    /// An idle connection that is still alive (reset if it broke), or a new one.
    private func usableConnection() async throws -> PGConnection {
        if let candidate = idle.popLast() {
            if await candidate.isAlive() { return candidate }
            let pid = await candidate.backendPID
            logger.info("pooled PostgreSQL connection broke; reconnecting", metadata: ["backend_pid": "\(pid)"])
            try await candidate.reset()
            return candidate
        }
        return try await PGConnection.connect(configuration, logger: logger)
    }

    private func release(_ connection: PGConnection) async {
        if await connection.isInTransaction {
            logger.warning("a pooled connection came back inside a transaction; rolling it back")
            await connection.rollbackQuietly()
        }
        if !isClosed {
            // A connection that broke is kept and reset on its next acquire.
            idle.append(connection)
        }
        returnPermit()
    }

    private func takePermit() async throws {
        if isClosed { throw StoreError(.poolClosed, "the connection pool is closed") }
        if permits > 0 {
            permits -= 1
            return
        }
        let id = nextWaiterID
        nextWaiterID += 1
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    waiters.append((id, continuation))
                }
            }
        } onCancel: {
            // Hops onto the actor, which is busy until the waiter is registered.
            Task { await self.cancelWaiter(id) }
        }
    }

    private func returnPermit() {
        if waiters.isEmpty {
            permits += 1
        } else {
            waiters.removeFirst().continuation.resume()
        }
    }

    private func cancelWaiter(_ id: UInt64) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(throwing: CancellationError())
    }
}
