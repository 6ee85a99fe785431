/// The one error type of PPFStore.
///
/// A server error keeps its SQLSTATE (``sqlState``) and is mapped to a named
/// ``Code`` where callers are expected to react to it (a unique violation, a
/// serialization failure). ``isRetriable`` says whether running the same work
/// again, on a fresh connection or a fresh transaction, can succeed.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, as a growable set of named values.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name, used in ``StoreError/description``.
        public let name: String
        /// Creates a code; add new ones as static lets below.
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        // MARK: - Connection and configuration

        /// libpq could not connect, or the connection broke (SQLSTATE class 08, or no server answer).
        public static let connectionFailure = Code("connectionFailure")
        /// The server is shutting down or restarting (57P01–57P03).
        public static let serverShutdown = Code("serverShutdown")
        /// The server refused a new connection: too many (53300).
        public static let tooManyConnections = Code("tooManyConnections")
        /// Authentication failed: wrong user or password (28P01, 28000).
        public static let authenticationFailed = Code("authenticationFailed")
        /// A `postgresql://` URL or configuration value is invalid.
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// The pool was closed before or while a connection was requested.
        public static let poolClosed = Code("poolClosed")

        // MARK: - Server errors (SQLSTATE mirrored)

        /// 23505: a unique constraint was violated.
        public static let uniqueViolation = Code("uniqueViolation")
        /// 23503: a foreign key constraint was violated.
        public static let foreignKeyViolation = Code("foreignKeyViolation")
        /// 23502: NULL into a NOT NULL column.
        public static let notNullViolation = Code("notNullViolation")
        /// 23514: a CHECK constraint was violated.
        public static let checkViolation = Code("checkViolation")
        /// 40001: the transaction could not be serialized; run it again.
        public static let serializationFailure = Code("serializationFailure")
        /// 40P01: a deadlock was detected; run the transaction again.
        public static let deadlockDetected = Code("deadlockDetected")
        /// 42P01: the table does not exist (wrong search_path, or migrations not run).
        public static let undefinedTable = Code("undefinedTable")
        /// 42703: the column does not exist.
        public static let undefinedColumn = Code("undefinedColumn")
        /// 42601: the SQL text does not parse.
        public static let syntaxError = Code("syntaxError")
        /// 57014: the statement was cancelled, usually by `statement_timeout`.
        public static let queryCanceled = Code("queryCanceled")
        /// 55P03: a lock could not be taken (NOWAIT or `lock_timeout`).
        public static let lockNotAvailable = Code("lockNotAvailable")
        /// Any other server error; see ``StoreError/sqlState``.
        public static let serverError = Code("serverError")

        // MARK: - Client-side

        /// COMMIT found the transaction already aborted by an earlier error, so nothing was written.
        public static let transactionAborted = Code("transactionAborted")
        /// An operation that must share the caller's transaction ran outside one.
        public static let notInTransaction = Code("notInTransaction")
        /// A column's PostgreSQL type cannot be decoded into the requested Swift type.
        public static let typeMismatch = Code("typeMismatch")
        /// A NULL was read into a non-optional Swift type.
        public static let unexpectedNull = Code("unexpectedNull")
        /// The row has no column with that name or index.
        public static let columnNotFound = Code("columnNotFound")
        /// A value's bytes are not what its PostgreSQL type promises.
        public static let decodingFailed = Code("decodingFailed")
        /// A Swift value could not be encoded as a parameter (e.g. JSON encoding failed).
        public static let encodingFailed = Code("encodingFailed")
        /// The migration list is malformed (versions not strictly increasing).
        public static let invalidMigration = Code("invalidMigration")
        /// An applied migration's SQL changed since it was applied.
        public static let migrationChecksumMismatch = Code("migrationChecksumMismatch")
    }

    /// What went wrong.
    public var code: Code
    /// A sentence a person can act on.
    public var message: String
    /// The server's SQLSTATE, when the server reported the error.
    public var sqlState: String?
    /// The SQL text involved (never the bound values).
    public var query: String?
    /// Where the error was raised.
    public var file: String
    /// Where the error was raised.
    public var line: Int

    /// Creates an error; the source location defaults to the caller's.
    public init(_ code: Code, _ message: String, sqlState: String? = nil, query: String? = nil,
                file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.query = query
        self.file = file
        self.line = line
    }

    /// Whether the same work may succeed if run again: connection loss,
    /// server restart, too many connections, serialization failure, deadlock.
    public var isRetriable: Bool {
        [.connectionFailure, .serverShutdown, .tooManyConnections,
         .serializationFailure, .deadlockDetected].contains(code)
    }

    public var description: String {
        var text = "StoreError.\(code): \(message)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let query { text += " [query: \(query.prefix(200))]" }
        return text + " at \(file):\(line)"
    }

    /// The code for a server SQLSTATE.
    static func code(forSQLState state: String) -> Code {
        switch state {
        case "23505": .uniqueViolation
        case "23503": .foreignKeyViolation
        case "23502": .notNullViolation
        case "23514": .checkViolation
        case "40001": .serializationFailure
        case "40P01": .deadlockDetected
        case "42P01": .undefinedTable
        case "42703": .undefinedColumn
        case "42601": .syntaxError
        case "57014": .queryCanceled
        case "55P03": .lockNotAvailable
        case "53300": .tooManyConnections
        case "57P01", "57P02", "57P03": .serverShutdown
        case "28000", "28P01": .authenticationFailed
        case _ where state.hasPrefix("08"): .connectionFailure
        default: .serverError
        }
    }
}
