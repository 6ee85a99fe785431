/// A PostgreSQL type, identified by its OID (the numbers are fixed in the
/// server's `pg_type` catalogue for built-in types).
///
/// Parameters are sent with a typed OID, so the server never has to guess,
/// and result columns report theirs so decoding can check it.
public struct PGDataType: Hashable, Sendable, CustomStringConvertible {
    /// The type's OID.
    public let oid: UInt32
    /// Wraps an OID.
    public init(oid: UInt32) { self.oid = oid }

    // MARK: - Built-in types (pg_type.dat)

    /// `bool` (OID 16).
    public static let bool = PGDataType(oid: 16)
    /// `bytea` (OID 17).
    public static let bytea = PGDataType(oid: 17)
    /// `name` (OID 19).
    public static let name = PGDataType(oid: 19)
    /// `int8` (OID 20).
    public static let int8 = PGDataType(oid: 20)
    /// `int2` (OID 21).
    public static let int2 = PGDataType(oid: 21)
    /// `int4` (OID 23).
    public static let int4 = PGDataType(oid: 23)
    /// `text` (OID 25).
    public static let text = PGDataType(oid: 25)
    /// `oid` (OID 26).
    public static let oidType = PGDataType(oid: 26)
    /// `json` (OID 114).
    public static let json = PGDataType(oid: 114)
    /// `float4` (OID 700).
    public static let float4 = PGDataType(oid: 700)
    /// `float8` (OID 701).
    public static let float8 = PGDataType(oid: 701)
    /// `unknown` (OID 705).
    public static let unknown = PGDataType(oid: 705)
    /// `bool[]` (OID 1000).
    public static let boolArray = PGDataType(oid: 1000)
    /// `int2[]` (OID 1005).
    public static let int2Array = PGDataType(oid: 1005)
    /// `int4[]` (OID 1007).
    public static let int4Array = PGDataType(oid: 1007)
    /// `text[]` (OID 1009).
    public static let textArray = PGDataType(oid: 1009)
    /// `varchar[]` (OID 1015).
    public static let varcharArray = PGDataType(oid: 1015)
    /// `int8[]` (OID 1016).
    public static let int8Array = PGDataType(oid: 1016)
    /// `float4[]` (OID 1021).
    public static let float4Array = PGDataType(oid: 1021)
    /// `float8[]` (OID 1022).
    public static let float8Array = PGDataType(oid: 1022)
    /// `bpchar` (OID 1042).
    public static let bpchar = PGDataType(oid: 1042)
    /// `varchar` (OID 1043).
    public static let varchar = PGDataType(oid: 1043)
    /// `date` (OID 1082).
    public static let date = PGDataType(oid: 1082)
    /// `timestamp` (OID 1114).
    public static let timestamp = PGDataType(oid: 1114)
    /// `timestamptz` (OID 1184).
    public static let timestamptz = PGDataType(oid: 1184)
    /// `numeric` (OID 1700).
    public static let numeric = PGDataType(oid: 1700)
    /// `void` (OID 2278).
    public static let void = PGDataType(oid: 2278)
    /// `uuid` (OID 2950).
    public static let uuid = PGDataType(oid: 2950)
    /// `uuid[]` (OID 2951).
    public static let uuidArray = PGDataType(oid: 2951)
    /// `jsonb` (OID 3802).
    public static let jsonb = PGDataType(oid: 3802)

    /// Names for the types above; others print as their OID.
    private static let names: [UInt32: String] = [
        16: "bool", 17: "bytea", 19: "name", 20: "int8", 21: "int2", 23: "int4", 25: "text",
        26: "oid", 114: "json", 700: "float4", 701: "float8", 705: "unknown", 1000: "bool[]",
        1005: "int2[]", 1007: "int4[]", 1009: "text[]", 1015: "varchar[]", 1016: "int8[]",
        1021: "float4[]", 1022: "float8[]", 1042: "bpchar", 1043: "varchar", 1082: "date",
        1114: "timestamp", 1184: "timestamptz", 1700: "numeric", 2278: "void", 2950: "uuid",
        2951: "uuid[]", 3802: "jsonb",
    ]

    /// The SQL name, e.g. `int8[]`, or `oid N` for a type not listed here.
    public var description: String { Self.names[oid] ?? "oid \(oid)" }
}
