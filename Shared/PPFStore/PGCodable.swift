/// A Swift value that can be bound as a query parameter.
///
/// Values travel in PostgreSQL's binary format with a typed OID, so there is
/// no text parsing on the server and no locale or `DateStyle` dependence.
public protocol PGEncodable: Sendable {
    /// The PostgreSQL type the value is sent as.
    static var pgType: PGDataType { get }
    /// Appends the value's binary representation.
    func pgEncode(into buffer: inout [UInt8])
}

/// A Swift value that can be read from a result column.
///
/// Results are requested in binary format. Conformers check the column's
/// type and throw ``StoreError`` `typeMismatch` for one they do not accept.
public protocol PGDecodable: Sendable {
    /// Decodes a non-NULL value of column type `type`.
    init(pgBytes bytes: ArraySlice<UInt8>, type: PGDataType) throws
    /// Decodes a cell that may be NULL (`bytes == nil`). The default throws
    /// `unexpectedNull`; `Optional` returns `nil`.
    static func pgDecode(_ bytes: ArraySlice<UInt8>?, type: PGDataType) throws -> Self
}

extension PGDecodable {
    public static func pgDecode(_ bytes: ArraySlice<UInt8>?, type: PGDataType) throws -> Self {
        guard let bytes else {
            throw StoreError(.unexpectedNull, "NULL cannot be decoded into non-optional \(Self.self); decode \(Self.self)? instead")
        }
        return try Self(pgBytes: bytes, type: type)
    }
}

extension Optional: PGDecodable where Wrapped: PGDecodable {
    public init(pgBytes bytes: ArraySlice<UInt8>, type: PGDataType) throws {
        self = try Wrapped(pgBytes: bytes, type: type)
    }

    public static func pgDecode(_ bytes: ArraySlice<UInt8>?, type: PGDataType) throws -> Wrapped? {
        guard let bytes else { return nil }
        return try Wrapped(pgBytes: bytes, type: type)
    }
}

// MARK: - Type checks

/// Throws `typeMismatch` unless `type` is one of `accepted`.
func expectType<Value>(_ type: PGDataType, in accepted: [PGDataType], for _: Value.Type) throws {
    guard accepted.contains(type) else {
        let names = accepted.map(\.description).joined(separator: ", ")
        throw StoreError(.typeMismatch, "a \(type) column cannot be decoded into \(Value.self) (accepts \(names))")
    }
}

// MARK: - Binary format, big-endian

extension Array where Element == UInt8 {
    /// Appends a fixed-width integer in network byte order.
    mutating func appendBigEndian<Integer: FixedWidthInteger>(_ value: Integer) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }
}

/// Reads big-endian values from a cell, throwing `decodingFailed` on a short read.
struct PGBinaryReader {
    private var bytes: ArraySlice<UInt8>
    private let typeName: String

    init(_ bytes: ArraySlice<UInt8>, type: PGDataType) {
        self.bytes = bytes
        self.typeName = type.description
    }

    var isAtEnd: Bool { bytes.isEmpty }

    /// Reads `Integer.bitWidth / 8` bytes as a big-endian integer.
    mutating func read<Integer: FixedWidthInteger>(_: Integer.Type) throws -> Integer {
        let size = Integer.bitWidth / 8
        guard bytes.count >= size else {
            throw StoreError(.decodingFailed, "\(typeName) value ends early: needed \(size) more bytes, \(bytes.count) left")
        }
        // Accumulate unsigned, then reinterpret: sign bits come out right for every width.
        var value: UInt64 = 0
        for byte in bytes.prefix(size) { value = value << 8 | UInt64(byte) }
        bytes = bytes.dropFirst(size)
        return Integer(truncatingIfNeeded: value)
    }

    /// Reads `count` raw bytes.
    mutating func read(count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, bytes.count >= count else {
            throw StoreError(.decodingFailed, "\(typeName) value ends early: needed \(count) bytes, \(bytes.count) left")
        }
        defer { bytes = bytes.dropFirst(count) }
        return bytes.prefix(count)
    }

    /// Throws unless every byte was consumed (a width mismatch would otherwise go unnoticed).
    func expectEnd() throws {
        guard bytes.isEmpty else {
            throw StoreError(.decodingFailed, "\(typeName) value has \(bytes.count) unexpected trailing bytes")
        }
    }
}

/// Reads exactly one integer of the given width from a whole cell.
func readWhole<Integer: FixedWidthInteger>(_: Integer.Type, from bytes: ArraySlice<UInt8>, type: PGDataType) throws -> Integer {
    var reader = PGBinaryReader(bytes, type: type)
    let value = try reader.read(Integer.self)
    try reader.expectEnd()
    return value
}
