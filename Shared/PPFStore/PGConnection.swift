import CLibPQ
import Dispatch
import Foundation
import Logging

/// One PostgreSQL connection, owning a libpq `PGconn`.
///
/// Every libpq call runs on the connection's own serial `DispatchQueue`, never
/// on Swift's cooperative thread pool: libpq blocks while it waits for the
/// server, and blocking the pool would stall unrelated tasks. Callers await a
/// continuation that the queue resumes.
///
/// A connection runs one statement at a time. It is `Sendable` so it can be
/// lent out by ``PGPool``, but interleaving statements of two tasks on one
/// connection would interleave their transactions: borrow it exclusively
/// (``PGPool/withConnection(isolation:_:)``) instead.
public final class PGConnection: @unchecked Sendable {
    // @unchecked: `handle` is only touched on `queue` (or in deinit, when no
    // one else can hold a reference).
    private let handle: OpaquePointer
    private let queue: DispatchQueue
    private let notices: NoticeSink
    /// The configuration this connection was opened with.
    public let configuration: PostgresConfiguration
    let logger: Logger

    private init(handle: OpaquePointer, queue: DispatchQueue, notices: NoticeSink,
                 configuration: PostgresConfiguration, logger: Logger) {
        self.handle = handle
        self.queue = queue
        self.notices = notices
        self.configuration = configuration
        self.logger = logger
    }

    deinit {
        // PQfinish sends Terminate and closes the socket: still a libpq call on
        // a socket, so it goes to the queue rather than whichever thread (maybe
        // a cooperative one) dropped the last reference.
        let handle = UncheckedHandle(pointer: handle)
        queue.async { [notices] in
            PQfinish(handle.pointer)
            withExtendedLifetime(notices) {}
        }
    }

    // MARK: - Connecting

    /// Opens a connection, once; see ``connectWithRetry(_:logger:)`` to wait
    /// for a server that is still starting.
    /// - Throws: ``StoreError`` `connectionFailure` (retriable) or
    ///   `authenticationFailed` (not retriable).
    public static func connect(_ configuration: PostgresConfiguration, logger: Logger) async throws -> PGConnection {
        let queue = DispatchQueue(label: "ppf.store.pg.\(configuration.endpoint)")
        let conninfo = configuration.conninfo
        let notices = NoticeSink(logger: logger)
        let opened: Result<UncheckedHandle, StoreError> = await withCheckedContinuation { continuation in
            queue.async {
                let result = openHandle(conninfo: conninfo, notices: notices, configuration: configuration)
                continuation.resume(returning: result.map(UncheckedHandle.init))
            }
        }
        let handle = try opened.get().pointer
        let connection = PGConnection(handle: handle, queue: queue, notices: notices,
                                      configuration: configuration, logger: logger)
        let pid = await connection.backendPID
        logger.debug("connected to PostgreSQL", metadata: ["postgres": "\(configuration)", "backend_pid": "\(pid)"])
        return connection
    }

    /// `PQconnectdb` plus error classification; runs on the connection's queue.
    private static func openHandle(conninfo: String, notices: NoticeSink,
                                   configuration: PostgresConfiguration) -> Result<OpaquePointer, StoreError> {
        guard let handle = PQconnectdb(conninfo) else {
            return .failure(StoreError(.connectionFailure, "libpq could not allocate a connection (out of memory)"))
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let reason = lastErrorMessage(handle)
            let needsPassword = PQconnectionNeedsPassword(handle) == 1
            PQfinish(handle)
            // libpq reports connection errors as text only; these phrases are
            // stable in libpq and the server (C locale on our stack).
            let isAuthentication = needsPassword || reason.contains("authentication failed")
                || (reason.contains("role \"") && reason.contains("does not exist"))
            return .failure(StoreError(
                isAuthentication ? .authenticationFailed : .connectionFailure,
                "cannot connect to PostgreSQL at \(configuration.endpoint) as \(configuration.user): \(reason)"))
        }
        PQsetNoticeReceiver(handle, noticeReceiver, Unmanaged.passUnretained(notices).toOpaque())
        return .success(handle)
    }

    // MARK: - Running statements

    /// Runs one statement and returns all its rows.
    /// - Throws: ``StoreError`` with the SQLSTATE mapped to a code.
    @discardableResult
    public func query(_ query: SQLQuery) async throws -> PGRows {
        try await onQueue { handle in try Self.run(query, on: handle) }
    }

    /// Runs one statement and returns the number of rows it changed.
    /// - Throws: ``StoreError`` with the SQLSTATE mapped to a code.
    @discardableResult
    public func execute(_ query: SQLQuery) async throws -> Int {
        try await self.query(query).affectedRows
    }

    /// Runs a script of several `;`-separated statements without parameters
    /// (e.g. a migration). The caller vouches that no part of it came from input.
    public func runScript(unsafeSQL sql: String) async throws {
        try await onQueue { handle in
            guard let result = PQexec(handle, sql) else { throw Self.connectionError(handle, query: sql) }
            defer { PQclear(result) }
            _ = try Self.materialize(result, on: handle, query: sql)
        }
    }

    // MARK: - State

    /// The server process id serving this connection (for `pg_terminate_backend`,
    /// logs); it changes when the pool re-opens a broken connection.
    public var backendPID: Int32 {
        get async { (try? await onQueue { PQbackendPID($0) }) ?? 0 }
    }

    /// Whether libpq considers the connection usable. A server that died
    /// since the last statement is only noticed by the next statement.
    public var isConnected: Bool {
        get async { (try? await onQueue { PQstatus($0) == CONNECTION_OK }) ?? false }
    }

    /// Whether the connection is usable right now: reads whatever the server
    /// sent while idle (without blocking), which is how a terminated backend
    /// or a restarted server is noticed before the next statement fails.
    func isAlive() async -> Bool {
        (try? await onQueue { handle in
            // libpq stops reading after the first chunk it gets (a terminated
            // backend's FATAL message); only a further read sees the EOF. On a
            // healthy idle connection each read returns EAGAIN at once.
            for _ in 0..<3 where PQconsumeInput(handle) != 1 { return false }
            _ = PQisBusy(handle)  // parses what arrived; an error becomes a notice
            return PQstatus(handle) == CONNECTION_OK
        }) ?? false
    }

    /// Whether a transaction is open (or failed and not yet rolled back).
    var isInTransaction: Bool {
        get async {
            (try? await onQueue { handle in
                let status = PQtransactionStatus(handle)
                return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
            }) ?? true
        }
    }

    /// Re-opens the connection with the same parameters (`PQreset`).
    /// - Throws: ``StoreError`` `connectionFailure` if the server is still unreachable.
    func reset() async throws {
        try await onQueue { handle in
            PQreset(handle)
            guard PQstatus(handle) == CONNECTION_OK else { throw Self.connectionError(handle, query: nil) }
        }
    }

    // MARK: - Queue bridge

    /// Runs `work` on the connection's queue and resumes the caller with its result.
    /// The handle passed to `work` must not escape it.
    func onQueue<Value: Sendable>(_ work: @escaping @Sendable (OpaquePointer) throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try work(self.handle) })
            }
        }
    }

    // MARK: - libpq plumbing (on the queue)

    /// `PQexecParams` with binary parameters and binary results.
    static func run(_ query: SQLQuery, on handle: OpaquePointer) throws -> PGRows {
        let binds = query.binds
        let types = binds.map(\.type.oid)
        let formats = [Int32](repeating: 1, count: binds.count)
        var lengths: [Int32] = []
        var offsets: [Int?] = []
        var storage: [UInt8] = []
        lengths.reserveCapacity(binds.count)
        offsets.reserveCapacity(binds.count)
        for (position, bind) in binds.enumerated() {
            guard let bytes = bind.bytes else {
                offsets.append(nil)
                lengths.append(0)
                continue
            }
            guard let length = Int32(exactly: bytes.count) else {
                throw StoreError(.encodingFailed, "parameter $\(position + 1) is \(bytes.count) bytes; PostgreSQL takes at most 2 GiB", query: query.sql)
            }
            offsets.append(storage.count)
            lengths.append(length)
            storage.append(contentsOf: bytes)
        }
        // Never empty, so even an empty non-NULL value gets a valid pointer.
        storage.append(0)

        let result = storage.withUnsafeBytes { raw -> OpaquePointer? in
            let base = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
            let values: [UnsafePointer<CChar>?] = offsets.map { $0.map { UnsafePointer(base + $0) } }
            return PQexecParams(handle, query.sql, Int32(binds.count), types, values, lengths, formats, 1)
        }
        guard let result else { throw connectionError(handle, query: query.sql) }
        defer { PQclear(result) }
        return try materialize(result, on: handle, query: query.sql)
    }

    /// Copies a result out of libpq memory, or throws its error.
    private static func materialize(_ result: OpaquePointer, on handle: OpaquePointer, query: String) throws -> PGRows {
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY else {
            throw serverError(result, on: handle, query: query)
        }
        let fieldCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        let columns = (0..<fieldCount).map { field in
            PGColumn(name: String(cString: PQfname(result, Int32(field))),
                     type: PGDataType(oid: PQftype(result, Int32(field))))
        }
        var storage: [UInt8] = []
        var cells: [Range<Int>?] = []
        cells.reserveCapacity(rowCount * fieldCount)
        for row in 0..<Int32(rowCount) {
            for field in 0..<Int32(fieldCount) {
                if PQgetisnull(result, row, field) == 1 {
                    cells.append(nil)
                    continue
                }
                let length = Int(PQgetlength(result, row, field))
                let start = storage.count
                if length > 0, let value = PQgetvalue(result, row, field) {
                    storage.append(contentsOf: UnsafeRawBufferPointer(start: value, count: length))
                }
                cells.append(start..<storage.count)
            }
        }
        let tag = String(cString: PQcmdStatus(result))
        let affected = Int(String(cString: PQcmdTuples(result))) ?? rowCount
        return PGRows(columns: columns, affectedRows: affected, commandTag: tag, storage: storage, cells: cells)
    }

    /// The error of a failed result, with SQLSTATE, detail and hint.
    private static func serverError(_ result: OpaquePointer, on handle: OpaquePointer, query: String) -> StoreError {
        func field(_ code: Character) -> String? {
            PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
        }
        guard let sqlState = field("C") else {
            // No SQLSTATE: libpq itself failed, almost always a lost connection.
            return connectionError(handle, query: query)
        }
        var message = field("M") ?? "unknown server error"
        if let detail = field("D") { message += "; detail: \(detail)" }
        if let hint = field("H") { message += "; hint: \(hint)" }
        return StoreError(StoreError.code(forSQLState: sqlState), message, sqlState: sqlState, query: query)
    }

    /// A `connectionFailure` carrying libpq's last message.
    static func connectionError(_ handle: OpaquePointer, query: String?) -> StoreError {
        StoreError(.connectionFailure, "lost the connection to PostgreSQL: \(lastErrorMessage(handle))", query: query)
    }

    /// libpq's last error message, trimmed.
    static func lastErrorMessage(_ handle: OpaquePointer) -> String {
        guard let message = PQerrorMessage(handle) else { return "no message from libpq" }
        let text = String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "no message from libpq" : text
    }
}

/// Carries a freshly opened handle from the queue to its owner; nothing else holds it.
private struct UncheckedHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

// MARK: - Notices

/// Routes server notices (e.g. "schema … does not exist, skipping") to the
/// logger instead of libpq's default, stderr. Owned by the connection, so it
/// outlives the handle that points at it.
private final class NoticeSink: Sendable {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }
}

/// libpq's notice callback; `context` is the connection's ``NoticeSink``.
private let noticeReceiver: PQnoticeReceiver = { context, result in
    guard let context, let result, let text = PQresultErrorMessage(result) else { return }
    let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
    sink.logger.debug("PostgreSQL notice: \(String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines))")
}
