import Foundation
import PPFTestSupport
import Testing
@testable import PPFStore

/// Unit tests of query building: no database.
@Suite struct SQLQueryTests {
    @Test func interpolatedValuesBecomeNumberedPlaceholdersWithBindsInOrder() {
        let topic = "ppf.plans"
        let after: Int = 42
        let ratio: Double = 0.25
        let query: SQLQuery = "SELECT id FROM outbox WHERE topic = \(topic) AND id > \(after) AND ratio < \(ratio)"
        #expect(query.sql == "SELECT id FROM outbox WHERE topic = $1 AND id > $2 AND ratio < $3")
        #expect(query.binds == [
            PGBind(type: .text, bytes: Array("ppf.plans".utf8)),
            PGBind(type: .int8, bytes: [0, 0, 0, 0, 0, 0, 0, 42]),
            PGBind(type: .float8, bytes: Array(withUnsafeBytes(of: (0.25).bitPattern.bigEndian) { Array($0) })),
        ])
    }

    @Test func eachSupportedTypeBindsWithItsPostgresType() throws {
        let id = try #require(UUID(uuidString: "00112233-4455-6677-8899-AABBCCDDEEFF"))
        let date = Date(timeIntervalSince1970: 946_684_800 + 1.5)  // 2000-01-01 00:00:01.5 UTC
        let query: SQLQuery = """
            \(Int32(-2)) \(Int64(3)) \(Float(1)) \(true) \(id) \(date) \([UInt8]([1, 2])) \(Data([3])) \([1, 2] as [Int]) \(["a"])
            """
        #expect(query.sql == "$1 $2 $3 $4 $5 $6 $7 $8 $9 $10")
        #expect(query.binds.map(\.type) == [.int4, .int8, .float4, .bool, .uuid, .timestamptz, .bytea, .bytea, .int8Array, .textArray])
        #expect(query.binds[0].bytes == [0xFF, 0xFF, 0xFF, 0xFE])
        #expect(query.binds[3].bytes == [1])
        #expect(query.binds[4].bytes == [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF])
        // 1.5 s after PostgreSQL's epoch = 1_500_000 µs.
        #expect(query.binds[5].bytes == [0, 0, 0, 0, 0, 0x16, 0xE3, 0x60])
        #expect(query.binds[6].bytes == [1, 2])
        #expect(query.binds[8].bytes == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 2, 0, 0, 0, 1,
                                        0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 2])
    }

    @Test func nilOptionalBindsATypedNull() {
        let missing: String? = nil
        let present: Int32? = 7
        let query: SQLQuery = "INSERT INTO t VALUES (\(missing), \(present))"
        #expect(query.sql == "INSERT INTO t VALUES ($1, $2)")
        #expect(query.binds == [PGBind(type: .text, bytes: nil), PGBind(type: .int4, bytes: [0, 0, 0, 7])])
    }

    @Test func jsonBindsAsVersionedJSONB() throws {
        struct Details: Codable, Sendable { var b: Int; var a: String }
        let query: SQLQuery = try "INSERT INTO audit_log (details) VALUES (\(SQLJSON(Details(b: 1, a: "x"))))"
        #expect(query.sql == "INSERT INTO audit_log (details) VALUES ($1)")
        #expect(query.binds == [PGBind(type: .jsonb, bytes: [1] + Array(#"{"a":"x","b":1}"#.utf8))])
    }

    @Test func injectionAttemptIsABindNotSQL() {
        let hostile = "'); DROP TABLE outbox; --"
        let query: SQLQuery = "SELECT \(hostile)"
        #expect(query.sql == "SELECT $1")
        #expect(!query.sql.contains("DROP"))
    }

    @Test func unsafeRawInsertsTextVerbatimWithoutABind() {
        let table = "outbox"
        let query: SQLQuery = "SELECT count(*) FROM \(unsafeRaw: table) WHERE id > \(1)"
        #expect(query.sql == "SELECT count(*) FROM outbox WHERE id > $1")
        #expect(query.binds.count == 1)
        #expect(SQLQuery(unsafeSQL: "SELECT 1").sql == "SELECT 1")
    }

    @Test func identifierInterpolationQuotesAndDoublesQuotes() {
        let query: SQLQuery = "CREATE SCHEMA \(identifier: #"we"ird; DROP"#)"
        #expect(query.sql == #"CREATE SCHEMA "we""ird; DROP""#)
        #expect(query.binds.isEmpty)
    }

    @Test func descriptionShowsSQLAndBindCountButNeverValues() {
        let secret = "hunter2-password"
        let query: SQLQuery = "UPDATE users SET password = \(secret) WHERE id = \(5)"
        #expect(query.description == "UPDATE users SET password = $1 WHERE id = $2 [2 binds]")
        #expect(!query.description.contains(secret))
        #expect(!"\(query.binds)".contains(secret))
    }
}
