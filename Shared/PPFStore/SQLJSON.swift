import Foundation
import PPFContracts

/// A value stored as `jsonb`: bind it with `\(SQLJSON(details))`, read it with
/// `row.decode(SQLJSON<Details>.self, column: "details").value`.
///
/// Coding uses ``MessageCoding`` from PPFContracts, so JSON in the database
/// matches JSON on the bus (ISO-8601 dates, sorted keys).
public struct SQLJSON<Value: Sendable>: Sendable {
    /// The wrapped value.
    public var value: Value
    /// Wraps a value.
    public init(_ value: Value) { self.value = value }
}

extension SQLJSON where Value: Encodable {
    /// The jsonb bind: version byte 1, then the JSON text.
    func bind() throws -> PGBind {
        do {
            let json = try MessageCoding.encoder().encode(value)
            return PGBind(type: .jsonb, bytes: [1] + Array(json))
        } catch {
            throw StoreError(.encodingFailed, "\(Value.self) could not be encoded as JSON: \(error)")
        }
    }
}

extension SQLJSON: PGDecodable where Value: Decodable {
    /// Accepts json and jsonb columns.
    public init(pgBytes bytes: ArraySlice<UInt8>, type: PGDataType) throws {
        try expectType(type, in: [.json, .jsonb], for: SQLJSON<Value>.self)
        let text = type == .jsonb ? try stripJSONBVersion(bytes) : bytes
        do {
            value = try MessageCoding.decoder().decode(Value.self, from: Data(text))
        } catch {
            throw StoreError(.decodingFailed, "JSON does not decode into \(Value.self): \(error)")
        }
    }
}
