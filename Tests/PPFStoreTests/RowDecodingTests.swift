import Foundation
import PPFTestSupport
import Testing
@testable import PPFStore

/// Integration: every supported type goes in as a bind and comes back out typed.
@Suite(.timeLimit(.minutes(TestDeadlines.minutes(1)))) struct RowDecodingTests {
    struct Details: Codable, Sendable, Equatable {
        var ratio: Double
        var layers: [Int]
        var at: Date
    }

    static let createTable: SQLQuery = """
        CREATE TABLE everything (
            i8 bigint, i4 integer, i2 smallint, f8 double precision, f4 real, b boolean, t text,
            u uuid, ts timestamptz, by bytea, j jsonb, ai bigint[], ad double precision[], at text[]
        )
        """

    @Test func everySupportedTypeRoundTrips() async throws {
        try await TestDatabase.withSchema { schema in
            let id = UUID()
            let date = Date(timeIntervalSince1970: 1_700_000_000.123456)
            let details = Details(ratio: 0.3, layers: [1, 2, 3], at: Date(timeIntervalSince1970: 1_700_000_000.5))
            let bytes: [UInt8] = [0, 1, 0x27, 0x5C, 0xFF]
            try await schema.pool.withConnection { connection in
                try await connection.execute(Self.createTable)
                try await connection.execute(try """
                    INSERT INTO everything VALUES (\(Int.min), \(Int32.max), \(Int32(-7)), \(-0.1), \(Float(1.5)),
                        \(true), \("héllo ✓"), \(id), \(date), \(bytes), \(SQLJSON(details)),
                        \([Int.max, 0, -1]), \([1.25, -Double.infinity]), \(["a", "", "b c", "\"q\""]))
                    """)
                let row = try #require(try await connection.query("SELECT * FROM everything").first)
                #expect(try row.decode(Int.self, column: "i8") == Int.min)
                #expect(try row.decode(Int32.self, column: "i4") == Int32.max)
                #expect(try row.decode(Int.self, column: "i2") == -7)  // int2 widens to Int
                #expect(try row.decode(Double.self, column: "f8") == -0.1)
                #expect(try row.decode(Float.self, column: "f4") == 1.5)
                #expect(try row.decode(Double.self, column: "f4") == 1.5)
                #expect(try row.decode(Bool.self, column: "b") == true)
                #expect(try row.decode(String.self, column: "t") == "héllo ✓")
                #expect(try row.decode(UUID.self, column: "u") == id)
                let readDate = try row.decode(Date.self, column: "ts")
                #expect(abs(readDate.timeIntervalSince(date)) < 1e-6)
                #expect(try row.decode([UInt8].self, column: "by") == bytes)
                #expect(try row.decode(Data.self, column: "by") == Data(bytes))
                #expect(try row.decode(SQLJSON<Details>.self, column: "j").value == details)
                #expect(try row.decode([Int].self, column: "ai") == [Int.max, 0, -1])
                #expect(try row.decode([Double].self, column: "ad") == [1.25, -Double.infinity])
                #expect(try row.decode([String].self, column: "at") == ["a", "", "b c", "\"q\""])
                // By index, and as a tuple.
                #expect(try row.decode(String.self, column: 6) == "héllo ✓")
                let (i8, i4, i2) = try #require(try await connection.query("SELECT i8, i4, i2 FROM everything").first)
                    .decode((Int64, Int32, Int32).self)
                #expect(i8 == Int64.min && i4 == Int32.max && i2 == -7)
            }
        }
    }

    @Test func nullsDecodeIntoOptionalsAndFailIntoNonOptionals() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                try await connection.execute(Self.createTable)
                let none: Int? = nil, noText: String? = nil, noID: UUID? = nil, noDate: Date? = nil
                let noBytes: [UInt8]? = nil, noJSON: SQLJSON<Details>? = nil, noArray: [Int]? = nil
                try await connection.execute(try """
                    INSERT INTO everything (i8, t, u, ts, by, j, ai) VALUES (\(none), \(noText), \(noID), \(noDate), \(noBytes), \(noJSON), \(noArray))
                    """)
                let row = try #require(try await connection.query("SELECT * FROM everything").first)
                #expect(try row.decode(Int?.self, column: "i8") == nil)
                #expect(try row.decode(Int32?.self, column: "i4") == nil)
                #expect(try row.decode(Double?.self, column: "f8") == nil)
                #expect(try row.decode(Float?.self, column: "f4") == nil)
                #expect(try row.decode(Bool?.self, column: "b") == nil)
                #expect(try row.decode(String?.self, column: "t") == nil)
                #expect(try row.decode(UUID?.self, column: "u") == nil)
                #expect(try row.decode(Date?.self, column: "ts") == nil)
                #expect(try row.decode([UInt8]?.self, column: "by") == nil)
                #expect(try row.decode(SQLJSON<Details>?.self, column: "j") == nil)
                #expect(try row.decode([Int]?.self, column: "ai") == nil)
                #expect(row.isNull(column: 0))
                #expect { try row.decode(Int.self, column: "i8") } throws: { error in
                    let error = error as? StoreError
                    return error?.code == .unexpectedNull && error?.message.contains("'i8'") == true
                }
            }
        }
    }

    @Test func wrongTypesAndMissingColumnsThrowNamedErrors() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let row = try #require(try await connection.query("SELECT 'x'::text AS name, 5::bigint AS big, 1.5::numeric AS n").first)
                #expect { try row.decode(Int.self, column: "name") } throws: { error in
                    let error = error as? StoreError
                    return error?.code == .typeMismatch && error?.message.contains("text column cannot be decoded into Int") == true
                }
                #expect { try row.decode(Int32.self, column: "big") } throws: { ($0 as? StoreError)?.code == .typeMismatch }
                #expect { try row.decode(Double.self, column: "n") } throws: { ($0 as? StoreError)?.code == .typeMismatch }
                #expect { try row.decode(String.self, column: "nope") } throws: { ($0 as? StoreError)?.code == .columnNotFound }
                #expect { try row.decode(String.self, column: 3) } throws: { ($0 as? StoreError)?.code == .columnNotFound }
                #expect { try row.decode((String, Int).self) } throws: { ($0 as? StoreError)?.code == .columnNotFound }
            }
        }
    }

    @Test func edgeValuesRoundTrip() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let row = try #require(try await connection.query("""
                    SELECT \("")::text, \([UInt8]())::bytea, \([Int]())::bigint[], \(Double.greatestFiniteMagnitude)::float8,
                           \(Double.leastNonzeroMagnitude)::float8, \(Double.nan)::float8, 'infinity'::timestamptz
                    """).first)
                let (empty, noBytes, noInts, big, tiny, nan, infinity) = try row.decode((String, [UInt8], [Int], Double, Double, Double, Date).self)
                #expect(empty == "" && noBytes.isEmpty && noInts.isEmpty)
                #expect(big == .greatestFiniteMagnitude && tiny == .leastNonzeroMagnitude && nan.isNaN)
                #expect(infinity == .distantFuture)
            }
        }
    }
}
