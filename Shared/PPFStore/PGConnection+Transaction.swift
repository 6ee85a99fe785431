/// The isolation level of a transaction (PostgreSQL's default is read committed).
public enum IsolationLevel: String, Sendable {
    /// Each statement sees data committed before it began.
    case readCommitted = "READ COMMITTED"
    /// The whole transaction sees one snapshot; concurrent writes to the same rows fail with 40001.
    case repeatableRead = "REPEATABLE READ"
    /// As if transactions ran one after another; conflicts fail with 40001.
    case serializable = "SERIALIZABLE"
}

extension PGConnection {
    // MARK: - Transactions

    /// Runs `body` inside BEGIN … COMMIT; any error thrown by `body` (or by
    /// COMMIT) rolls the transaction back and is rethrown.
    ///
    /// - Parameters:
    ///   - level: the isolation level. Default read committed.
    ///   - retries: how many times to run the whole transaction again after a
    ///     serialization failure or deadlock (``StoreError/isRetriable`` and not
    ///     a connection loss), after a short random pause. `body` must then be
    ///     safe to run again. Default 0.
    /// - Throws: `body`'s error, or ``StoreError`` `transactionAborted` when
    ///   `body` swallowed a statement error and COMMIT turned into ROLLBACK.
    @discardableResult
    public func withTransaction<Value>(
        isolation: isolated (any Actor)? = #isolation,
        _ level: IsolationLevel = .readCommitted,
        retries: Int = 0,
        _ body: (PGConnection) async throws -> Value
    ) async throws -> Value {
        var attempt = 0
        while true {
            do {
                return try await transactionOnce(level, body)
            } catch let error as StoreError
                        where attempt < retries && error.isRetriable && error.code != .connectionFailure {
                attempt += 1
                logger.debug("transaction conflict, running it again", metadata: [
                    "code": "\(error.code)", "attempt": "\(attempt)",
                ])
                // A random pause breaks the symmetry between the transactions
                // that collided; retrying at once tends to collide again.
                let ceiling = 10 << min(attempt, 6)
                try await Task.sleep(for: .milliseconds(Int.random(in: 2...ceiling)))
            }
        }
    }

    private func transactionOnce<Value>(
        isolation: isolated (any Actor)? = #isolation,
        _ level: IsolationLevel,
        _ body: (PGConnection) async throws -> Value
    ) async throws -> Value {
        try await execute(SQLQuery(unsafeSQL: "BEGIN ISOLATION LEVEL \(level.rawValue)"))
        let value: Value
        do {
            value = try await body(self)
        } catch {
            await rollbackQuietly()
            throw error
        }
        let commit = try await query("COMMIT")
        // COMMIT of a transaction that already failed reports ROLLBACK, not an error.
        guard commit.commandTag == "COMMIT" else {
            throw StoreError(.transactionAborted,
                             "the transaction was rolled back at COMMIT because a statement in it failed earlier; nothing was written")
        }
        return value
    }

    /// ROLLBACK, logging rather than throwing: the caller is already failing
    /// with a better error, and a broken connection is dropped by the pool.
    func rollbackQuietly() async {
        do {
            try await execute("ROLLBACK")
        } catch {
            logger.warning("ROLLBACK failed", metadata: ["error": "\(error)"])
        }
    }
}
