import Logging

/// One schema change: a version, a name for people, and the SQL to run.
///
/// Once applied anywhere, a migration's SQL must not change; a fix is a new
/// migration. ``checksum`` lets the ``Migrator`` notice an edit.
public struct Migration: Sendable, Equatable {
    /// Position in the history; strictly increasing, starting at 1.
    public let version: Int
    /// A short description, e.g. `"foundation tables"`.
    public let name: String
    /// One or more `;`-separated statements, run in one transaction.
    public let sql: String

    /// Creates a migration.
    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// FNV-1a (64-bit) of the SQL's UTF-8 bytes, in hex: detects accidental
    /// edits, which is all it is for (not a defence against tampering).
    public var checksum: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sql.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// Brings a schema up to date with a list of migrations.
///
/// Pending migrations run in version order, each in its own transaction
/// together with its `schema_migrations` row, so a failure leaves the schema
/// at the last good version. A session advisory lock, keyed by the current
/// schema, makes services that start at the same time take turns: the
/// second finds the work done. Running it again applies nothing.
public struct Migrator: Sendable {
    /// The full history, oldest first.
    public let migrations: [Migration]
    private let logger: Logger

    /// A migrator for `migrations` (default: PPF's own, ``PPFSchema/migrations``).
    public init(_ migrations: [Migration] = PPFSchema.migrations, logger: Logger) {
        self.migrations = migrations
        self.logger = logger
    }

    /// Applies every pending migration on `connection`'s current schema.
    /// - Returns: the migrations applied by this call (empty if up to date).
    /// - Throws: ``StoreError`` `invalidMigration` for a malformed list,
    ///   `migrationChecksumMismatch` if an applied migration's SQL changed, or
    ///   the failing migration's server error (that migration is rolled back).
    @discardableResult
    public func migrate(on connection: PGConnection) async throws -> [Migration] {
        try validate()
        let lockKey = "hashtext('ppf.schema_migrations.' || coalesce(current_schema(), ''))"
        try await connection.execute(SQLQuery(unsafeSQL: "SELECT pg_advisory_lock(\(lockKey))"))
        do {
            let applied = try await migrateLocked(on: connection)
            try await connection.execute(SQLQuery(unsafeSQL: "SELECT pg_advisory_unlock(\(lockKey))"))
            return applied
        } catch {
            // A broken connection releases the lock with the session anyway.
            _ = try? await connection.execute(SQLQuery(unsafeSQL: "SELECT pg_advisory_unlock(\(lockKey))"))
            throw error
        }
    }

    // MARK: - Steps

    private func validate() throws {
        var previous = 0
        for migration in migrations {
            guard migration.version > previous else {
                throw StoreError(.invalidMigration, """
                    migration \(migration.version) '\(migration.name)' follows \(previous); \
                    versions must start at 1 and strictly increase
                    """)
            }
            previous = migration.version
        }
    }

    private func migrateLocked(on connection: PGConnection) async throws -> [Migration] {
        try await connection.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
        let recorded = try await connection.query("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
            .decode((Int, String, String).self)
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        for (version, name, checksum) in recorded {
            guard let migration = known[version] else {
                logger.warning("the database has migration \(version) '\(name)', which this build does not know; is a newer version running?")
                continue
            }
            guard migration.checksum == checksum else {
                throw StoreError(.migrationChecksumMismatch, """
                    migration \(version) '\(migration.name)' was changed after it was applied \
                    (checksum \(checksum) in the database, \(migration.checksum) now); \
                    restore its SQL and put the change in a new migration
                    """)
            }
        }
        let done = Set(recorded.map(\.0))
        var applied: [Migration] = []
        for migration in migrations where !done.contains(migration.version) {
            do {
                try await connection.withTransaction { connection in
                    try await connection.runScript(unsafeSQL: migration.sql)
                    try await connection.execute("""
                        INSERT INTO schema_migrations (version, name, checksum)
                        VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                        """)
                }
            } catch var error as StoreError {
                error.message = "migration \(migration.version) '\(migration.name)' failed and was rolled back: " + error.message
                throw error
            }
            logger.info("applied migration \(migration.version) '\(migration.name)'")
            applied.append(migration)
        }
        return applied
    }
}
