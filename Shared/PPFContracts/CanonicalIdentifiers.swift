import Foundation

// MARK: - Lowercase ids in payloads

extension KeyedEncodingContainer {
    /// Encodes an id in its canonical lowercase form, as the envelope and
    /// PostgreSQL print it, so one id reads the same everywhere (Foundation's
    /// default is uppercase). Decoding accepts either case.
    mutating func encodeCanonical(_ id: UUID, forKey key: Key) throws {
        try encode(id.uuidString.lowercased(), forKey: key)
    }

    /// Encodes an optional id in lowercase, omitting the key when `nil`
    /// (as the synthesized coding does).
    mutating func encodeCanonicalIfPresent(_ id: UUID?, forKey key: Key) throws {
        try encodeIfPresent(id?.uuidString.lowercased(), forKey: key)
    }
}
