import Foundation

/// A SQL statement and its bound parameters, built by string interpolation.
///
/// Follows the design of postgres-nio's `PostgresQuery`: every `\(value)` in
/// the literal becomes a placeholder `$n` in ``sql`` and a typed value in
/// ``binds``, so values never become SQL text and cannot inject:
///
/// ```swift
/// let query: SQLQuery = "SELECT id FROM outbox WHERE topic = \(topic) AND id > \(after)"
/// // sql:   SELECT id FROM outbox WHERE topic = $1 AND id > $2
/// // binds: [text topic, int8 after]
/// ```
///
/// Text that must be SQL (a trusted identifier, an isolation level) goes in
/// through the deliberately loud ``StringInterpolation/appendInterpolation(unsafeRaw:)``
/// or ``init(unsafeSQL:)``; an identifier from elsewhere through
/// ``StringInterpolation/appendInterpolation(identifier:)``, which quotes it.
/// A statement is sent with the extended protocol, so one `SQLQuery` is at
/// most one statement.
public struct SQLQuery: Sendable, Equatable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The SQL text with `$1…$n` placeholders.
    public private(set) var sql: String
    /// The parameter values, `binds[i]` for `$(i+1)`.
    public private(set) var binds: [PGBind]

    /// Uses `sql` verbatim, with no parameters. The caller vouches that no
    /// part of it came from input.
    public init(unsafeSQL sql: String) {
        self.sql = sql
        self.binds = []
    }

    /// A literal without interpolations.
    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    /// Collects the literal's text and binds.
    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.binds = stringInterpolation.binds
    }

    /// The SQL text and how many values are bound; never the values, which may
    /// be personal data or secrets.
    public var description: String {
        "\(sql) [\(binds.count) bind\(binds.count == 1 ? "" : "s")]"
    }

    // MARK: - Interpolation

    /// Turns each interpolated value into a `$n` placeholder plus a bind.
    public struct StringInterpolation: StringInterpolationProtocol {
        /// Text so far.
        public private(set) var sql: String
        /// Binds so far.
        public private(set) var binds: [PGBind]

        /// Reserves room for the literal.
        public init(literalCapacity: Int, interpolationCount: Int) {
            sql = ""
            sql.reserveCapacity(literalCapacity + 3 * interpolationCount)
            binds = []
            binds.reserveCapacity(interpolationCount)
        }

        /// Appends SQL text written in the source.
        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        /// Binds a value: appends `$n`.
        public mutating func appendInterpolation<Value: PGEncodable>(_ value: Value) {
            append(PGBind(value))
        }

        /// Binds an optional value: `nil` is SQL NULL, typed as `Value`.
        public mutating func appendInterpolation<Value: PGEncodable>(_ value: Value?) {
            append(value.map(PGBind.init) ?? PGBind(type: Value.pgType, bytes: nil))
        }

        /// Binds a value as `jsonb`, encoded with PPF's shared JSON coding.
        /// - Throws: ``StoreError`` `encodingFailed` if the value cannot be encoded.
        public mutating func appendInterpolation<Value: Encodable>(_ json: SQLJSON<Value>) throws {
            append(try json.bind())
        }

        /// Binds an optional `jsonb` value; `nil` is SQL NULL.
        public mutating func appendInterpolation<Value: Encodable>(_ json: SQLJSON<Value>?) throws {
            append(try json?.bind() ?? PGBind(type: .jsonb, bytes: nil))
        }

        /// Inserts text into the SQL verbatim. Only for text the program itself
        /// wrote (a table name from a constant, a keyword); never for input.
        public mutating func appendInterpolation(unsafeRaw text: String) {
            sql += text
        }

        /// Inserts an identifier (schema, table, column) double-quoted, with
        /// embedded quotes doubled, so any string is safe here.
        public mutating func appendInterpolation(identifier: String) {
            sql += "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }

        private mutating func append(_ bind: PGBind) {
            binds.append(bind)
            sql += "$\(binds.count)"
        }
    }
}

/// One parameter value as it goes to the server: its type and its bytes in
/// PostgreSQL's binary format, or `nil` for NULL.
public struct PGBind: Sendable, Equatable, CustomStringConvertible {
    /// The parameter's type, sent as its OID.
    public var type: PGDataType
    /// Binary-format bytes; `nil` is SQL NULL.
    public var bytes: [UInt8]?

    /// A bind from its parts.
    public init(type: PGDataType, bytes: [UInt8]?) {
        self.type = type
        self.bytes = bytes
    }

    /// Encodes a value.
    public init<Value: PGEncodable>(_ value: Value) {
        var bytes: [UInt8] = []
        value.pgEncode(into: &bytes)
        self.init(type: Value.pgType, bytes: bytes)
    }

    /// The type and size, not the value.
    public var description: String {
        bytes.map { "\(type) (\($0.count) bytes)" } ?? "\(type) NULL"
    }
}
