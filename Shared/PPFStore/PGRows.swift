/// A result column: its name and PostgreSQL type.
public struct PGColumn: Sendable, Equatable {
    /// The column name as the query labels it.
    public let name: String
    /// The column's type.
    public let type: PGDataType
}

/// A type that builds itself from a whole row, e.g. a repository record.
///
/// ```swift
/// struct Entry: PGRowDecodable {
///     var id: Int64, topic: String
///     init(row: PGRow) throws {
///         id = try row.decode(column: "id")
///         topic = try row.decode(column: "topic")
///     }
/// }
/// ```
public protocol PGRowDecodable {
    /// Decodes one row.
    init(row: PGRow) throws
}

// MARK: - PGRows

/// The complete result of a statement, copied out of libpq (no C memory is
/// kept), so it can be passed between tasks freely.
public struct PGRows: Sendable, RandomAccessCollection {
    /// The result's columns, in order.
    public let columns: [PGColumn]
    /// Rows changed by INSERT/UPDATE/DELETE (or returned by SELECT), from the command tag.
    public let affectedRows: Int
    /// The server's command tag, e.g. `INSERT 0 1`, `COMMIT` (or `ROLLBACK` for a failed transaction).
    public let commandTag: String
    /// All cell bytes back to back.
    let storage: [UInt8]
    /// Row-major cell ranges into ``storage``; `nil` is NULL.
    let cells: [Range<Int>?]

    init(columns: [PGColumn], affectedRows: Int, commandTag: String, storage: [UInt8], cells: [Range<Int>?]) {
        self.columns = columns
        self.affectedRows = affectedRows
        self.commandTag = commandTag
        self.storage = storage
        self.cells = cells
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { columns.isEmpty ? 0 : cells.count / columns.count }

    /// The row at `position`.
    public subscript(position: Int) -> PGRow {
        PGRow(rows: self, index: position)
    }

    /// Decodes every row as a tuple: `try rows.decode((Int, String?).self)`.
    public func decode<each T: PGDecodable>(_ types: (repeat each T).Type) throws -> [(repeat each T)] {
        try map { try $0.decode(types) }
    }

    /// Decodes every row as a ``PGRowDecodable`` value.
    public func decode<Record: PGRowDecodable>(_: Record.Type) throws -> [Record] {
        try map { try Record(row: $0) }
    }
}

// MARK: - PGRow

/// One result row; decode its cells by column name or index.
public struct PGRow: Sendable {
    private let rows: PGRows
    private let index: Int

    init(rows: PGRows, index: Int) {
        self.rows = rows
        self.index = index
    }

    /// The row's columns.
    public var columns: [PGColumn] { rows.columns }

    /// Decodes the cell in the column called `name` (the first, if several share it).
    /// - Throws: ``StoreError`` `columnNotFound`, `typeMismatch`, `unexpectedNull`, `decodingFailed`.
    public func decode<Value: PGDecodable>(_: Value.Type = Value.self, column name: String) throws -> Value {
        guard let position = rows.columns.firstIndex(where: { $0.name == name }) else {
            let names = rows.columns.map(\.name).joined(separator: ", ")
            throw StoreError(.columnNotFound, "no column '\(name)' in this row (columns: \(names))")
        }
        return try decode(Value.self, column: position)
    }

    /// Decodes the cell in column `column` (0-based).
    /// - Throws: ``StoreError`` `columnNotFound`, `typeMismatch`, `unexpectedNull`, `decodingFailed`.
    public func decode<Value: PGDecodable>(_: Value.Type = Value.self, column: Int) throws -> Value {
        guard rows.columns.indices.contains(column) else {
            throw StoreError(.columnNotFound, "column index \(column) out of range; the row has \(rows.columns.count) columns")
        }
        let described = rows.columns[column]
        let bytes = rows.cells[index * rows.columns.count + column].map { rows.storage[$0] }
        do {
            return try Value.pgDecode(bytes, type: described.type)
        } catch var error as StoreError {
            error.message = "column '\(described.name)' (#\(column)): " + error.message
            throw error
        }
    }

    /// Decodes the whole row as a tuple, column by column:
    /// `let (id, topic) = try row.decode((Int64, String).self)`.
    /// - Throws: ``StoreError`` `columnNotFound` if the column count differs.
    public func decode<each T: PGDecodable>(_: (repeat each T).Type) throws -> (repeat each T) {
        var expected = 0
        for _ in repeat (each T).self { expected += 1 }
        guard expected == rows.columns.count else {
            throw StoreError(.columnNotFound, "decoding a \(expected)-tuple from a row with \(rows.columns.count) columns")
        }
        var position = 0
        func next<Value: PGDecodable>(_: Value.Type) throws -> Value {
            defer { position += 1 }
            return try decode(Value.self, column: position)
        }
        return (repeat try next((each T).self))
    }

    /// Whether the cell in column `column` is NULL.
    public func isNull(column: Int) -> Bool {
        rows.columns.indices.contains(column) && rows.cells[index * rows.columns.count + column] == nil
    }
}
