import Foundation

// Binary formats follow the server's send/recv functions (src/backend/utils/adt):
// integers and floats big-endian, bool one byte, uuid 16 bytes, timestamptz
// int64 microseconds since 2000-01-01 UTC, text and bytea raw bytes.

// MARK: - Integers

extension Int: PGEncodable, PGDecodable {
    public static var pgType: PGDataType { .int8 }
    public func pgEncode(into buffer: inout [UInt8]) { buffer.appendBigEndian(Int64(self)) }
    /// Accepts int2, int4 and int8 columns.
    public init(pgBytes bytes: ArraySlice<UInt8>, type: PGDataType) throws {
        self = Int(try Int64(pgBytes: bytes, type: type))
    }
}

extension Int64: PGEncodable, PGDecodable {
    public static var pgType: PGDataType { .int8 }
    public func pgEncode(into buffer: inout [UInt8]) { buffer.appendBigEndian(self) }
    /// Accepts int2, int4 and int8 columns.
    public init(pgBytes bytes: ArraySlice<UInt8>, type: PGDataType) throws {
        switch type {
        case .int8: self = try readWhole(Int64.self, from: bytes, type: type)
        case .int4: self = Int64(try readWhole(Int32.self, from: bytes, type: type))
        case .int2: self = Int64(try readWhole(Int16.self, from: bytes, type: type))
        default: try expectType(type, in: [.int2, .int4, .int8], for: Int64.self); self = 0
        }
    }
}

extension Int32: PGEncodable, PGDecodable {
    public static var pgType: PGDataType { .int4 }
    public func pgEncode(into buffer: inout [UInt8]) { buffer.appendBigEndian(self) }
    /// Accepts int2 and int4 columns (an int8 may not fit).
    public init(pgBytes bytes: ArraySlice<UInt8>, type: PGDataType) throws {
        switch type {
        case .int4: self = try readWhole(Int32.self, from: bytes, type: type)
        case .int2: self = Int32(try readWhole(Int16.self, from: bytes, type: type))
        default: try expectType(type, in: [.int2, .int4], for: Int32.self); self = 0
        }
    }
}

// MARK: - Floating point

extension Double: PGEncodable, PGDecodable {
    public static var pgType: PGDataType { .float8 }
    public func pgEncode(into buffer: inout [UInt8]) { buffer.appendBigEndian(bitPattern) }
    /// Accepts float8 and float4 columns.
    public init(pgBytes bytes: ArraySlice<UInt8>, type: PGDataType) throws {
        switch type {
        case .float8: self = Double(bitPattern: try readWhole(UInt64.self, from: bytes, type: type))
        case .float4: self = Double(try Float(pgBytes: bytes, type: type))
        default: try expectType(type, in: [.float4, .float8], for: Double.self); self = 0
        }
    }
}

extension Float: PGEncodable, PGDecodable {
    public static var pgType: PGDataType { .float4 }
    public func pgEncode(into buffer: inout [UInt8]) { buffer.appendBigEndian(bitPattern) }
    /// Accepts float4 columns only (float8 would lose precision silently).
    public init(pgBytes bytes: ArraySlice<UInt8>, type: PGDataType) throws {
        try expectType(type, in: [.float4], for: Float.self)
        self = Float(bitPattern: try readWhole(UInt32.self, from: bytes, type: type))
    }
}

// MARK: - Bool, String, UUID

extension Bool: PGEncodable, PGDecodable {
    public static var pgType: PGDataType { .bool }
    public func pgEncode(into buffer: inout [UInt8]) { buffer.append(self ? 1 : 0) }
    public init(pgBytes bytes: ArraySlice<UInt8>, type: PGDataType) throws {
        try expectType(type, in: [.bool], for: Bool.self)
        self = try readWhole(UInt8.self, from: bytes, type: type) != 0
    }
}

extension String: PGEncodable, PGDecodable {
    public static var pgType: PGDataType { .text }
    public func pgEncode(into buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
    /// Accepts text-like columns (text, varchar, bpchar, name) and json/jsonb as their JSON text.
    public init(pgBytes bytes: ArraySlice<UInt8>, type: PGDataType) throws {
        try expectType(type, in: [.text, .varchar, .bpchar, .name, .unknown, .json, .jsonb], for: String.self)
        var body = bytes
        if type == .jsonb { body = try stripJSONBVersion(bytes) }
        // The server sends UTF-8 (client_encoding is set); repair rather than trap if not.
        self = String(decoding: body, as: UTF8.self)
    }
}

extension UUID: PGEncodable, PGDecodable {
    public static var pgType: PGDataType { .uuid }
    public func pgEncode(into buffer: inout [UInt8]) {
        withUnsafeBytes(of: uuid) { buffer.append(contentsOf: $0) }
    }
    public init(pgBytes bytes: ArraySlice<UInt8>, type: PGDataType) throws {
        try expectType(type, in: [.uuid], for: UUID.self)
        guard bytes.count == 16 else {
            throw StoreError(.decodingFailed, "uuid value has \(bytes.count) bytes, expected 16")
        }
        let b = Array(bytes)
        self = UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                           b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }
}

// MARK: - Date (timestamptz)

/// Seconds from the Unix epoch to PostgreSQL's epoch, 2000-01-01 00:00 UTC.
private let postgresEpochOffset: TimeInterval = 946_684_800

extension Date: PGEncodable, PGDecodable {
    public static var pgType: PGDataType { .timestamptz }
    /// Microseconds since 2000-01-01 UTC, rounded; PostgreSQL keeps microseconds.
    public func pgEncode(into buffer: inout [UInt8]) {
        let micros = ((timeIntervalSince1970 - postgresEpochOffset) * 1_000_000).rounded()
        buffer.appendBigEndian(Int64(exactly: micros) ?? (micros > 0 ? Int64.max : Int64.min))
    }
    /// Accepts timestamptz and timestamp (read as UTC); ±infinity become distant future/past.
    public init(pgBytes bytes: ArraySlice<UInt8>, type: PGDataType) throws {
        try expectType(type, in: [.timestamptz, .timestamp], for: Date.self)
        let micros = try readWhole(Int64.self, from: bytes, type: type)
        switch micros {
        case .max: self = .distantFuture
        case .min: self = .distantPast
        default: self = Date(timeIntervalSince1970: postgresEpochOffset + Double(micros) / 1_000_000)
        }
    }
}

// MARK: - Bytes

extension Data: PGEncodable, PGDecodable {
    public static var pgType: PGDataType { .bytea }
    public func pgEncode(into buffer: inout [UInt8]) { buffer.append(contentsOf: self) }
    public init(pgBytes bytes: ArraySlice<UInt8>, type: PGDataType) throws {
        try expectType(type, in: [.bytea], for: Data.self)
        self = Data(bytes)
    }
}

// MARK: - Arrays

/// A type whose Swift arrays bind as a PostgreSQL array (`[Int]` → int8[]).
///
/// `UInt8` is the one exception: `[UInt8]` is bytes, so it binds as `bytea`.
/// Only one-dimensional arrays without NULL elements are supported.
public protocol PGArrayElement: Sendable {
    /// The array type, e.g. int8[] for `Int`.
    static var pgArrayType: PGDataType { get }
    /// Appends the binary form of `elements` as a ``pgArrayType`` value.
    static func pgEncodeArray(_ elements: [Self], into buffer: inout [UInt8])
    /// Decodes a value of column type `type` into elements.
    static func pgDecodeArray(_ bytes: ArraySlice<UInt8>, type: PGDataType) throws -> [Self]
}

extension PGArrayElement where Self: PGEncodable & PGDecodable {
    /// The server's array_send layout: ndim, has-null flag, element OID,
    /// (length, lower bound) per dimension, then (length, bytes) per element.
    public static func pgEncodeArray(_ elements: [Self], into buffer: inout [UInt8]) {
        buffer.appendBigEndian(Int32(1))
        buffer.appendBigEndian(Int32(0))
        buffer.appendBigEndian(Self.pgType.oid)
        buffer.appendBigEndian(Int32(elements.count))
        buffer.appendBigEndian(Int32(1))
        for element in elements {
            var encoded: [UInt8] = []
            element.pgEncode(into: &encoded)
            buffer.appendBigEndian(Int32(encoded.count))
            buffer.append(contentsOf: encoded)
        }
    }

    public static func pgDecodeArray(_ bytes: ArraySlice<UInt8>, type: PGDataType) throws -> [Self] {
        try expectType(type, in: knownArrayTypes, for: [Self].self)
        var reader = PGBinaryReader(bytes, type: type)
        let dimensions = try reader.read(Int32.self)
        _ = try reader.read(Int32.self)  // has-null flag; NULL elements are rejected below
        let elementType = PGDataType(oid: try reader.read(UInt32.self))
        if dimensions == 0 { return [] }
        guard dimensions == 1 else {
            throw StoreError(.typeMismatch, "a \(dimensions)-dimensional array cannot be decoded into [\(Self.self)]")
        }
        let count = try reader.read(Int32.self)
        _ = try reader.read(Int32.self)  // lower bound
        guard count >= 0 else { throw StoreError(.decodingFailed, "array length \(count) is negative") }
        var elements: [Self] = []
        elements.reserveCapacity(Int(count))
        for index in 0..<Int(count) {
            let length = try reader.read(Int32.self)
            guard length >= 0 else {
                throw StoreError(.unexpectedNull, "array element \(index + 1) is NULL; [\(Self.self)] has no NULL elements")
            }
            elements.append(try Self(pgBytes: try reader.read(count: Int(length)), type: elementType))
        }
        try reader.expectEnd()
        return elements
    }
}

/// The array column types the generic array decoding accepts.
private let knownArrayTypes: [PGDataType] = [
    .boolArray, .int2Array, .int4Array, .int8Array, .float4Array, .float8Array,
    .textArray, .varcharArray, .uuidArray,
]

extension Int: PGArrayElement { public static var pgArrayType: PGDataType { .int8Array } }
extension Int64: PGArrayElement { public static var pgArrayType: PGDataType { .int8Array } }
extension Int32: PGArrayElement { public static var pgArrayType: PGDataType { .int4Array } }
extension Double: PGArrayElement { public static var pgArrayType: PGDataType { .float8Array } }
extension Float: PGArrayElement { public static var pgArrayType: PGDataType { .float4Array } }
extension Bool: PGArrayElement { public static var pgArrayType: PGDataType { .boolArray } }
extension String: PGArrayElement { public static var pgArrayType: PGDataType { .textArray } }
extension UUID: PGArrayElement { public static var pgArrayType: PGDataType { .uuidArray } }

extension UInt8: PGArrayElement {
    /// `[UInt8]` is binary data: it binds as `bytea`.
    public static var pgArrayType: PGDataType { .bytea }
    public static func pgEncodeArray(_ elements: [UInt8], into buffer: inout [UInt8]) {
        buffer.append(contentsOf: elements)
    }
    public static func pgDecodeArray(_ bytes: ArraySlice<UInt8>, type: PGDataType) throws -> [UInt8] {
        try expectType(type, in: [.bytea], for: [UInt8].self)
        return Array(bytes)
    }
}

extension Array: PGEncodable where Element: PGArrayElement {
    public static var pgType: PGDataType { Element.pgArrayType }
    public func pgEncode(into buffer: inout [UInt8]) { Element.pgEncodeArray(self, into: &buffer) }
}

extension Array: PGDecodable where Element: PGArrayElement {
    public init(pgBytes bytes: ArraySlice<UInt8>, type: PGDataType) throws {
        self = try Element.pgDecodeArray(bytes, type: type)
    }
}

// MARK: - JSON

/// jsonb's binary form is a version byte (1) followed by the JSON text.
func stripJSONBVersion(_ bytes: ArraySlice<UInt8>) throws -> ArraySlice<UInt8> {
    guard bytes.first == 1 else {
        throw StoreError(.decodingFailed, "jsonb value has unknown format version \(bytes.first.map(String.init) ?? "none")")
    }
    return bytes.dropFirst()
}
