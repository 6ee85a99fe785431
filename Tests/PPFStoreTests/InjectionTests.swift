import Foundation
import PPFTestSupport
import Testing
@testable import PPFStore

/// Integration: hostile text is stored and read back as data, never run as SQL.
@Suite(.timeLimit(.minutes(TestDeadlines.minutes(1)))) struct InjectionTests {
    static let hostileValues = [
        "'); DROP TABLE x; --",
        #"O'Brien \"quoted\" \\ back\slash $1 $$ $tag$ ; -- /* */ 'it''s' E'\x41' ünïcödé 中文 😀 \#t\#n"#,
    ]

    @Test(arguments: hostileValues)
    func hostileTextIsStoredAndReadBackUnchanged(value: String) async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                try await connection.execute("CREATE TABLE x (id serial PRIMARY KEY, v text NOT NULL)")
                try await connection.execute("INSERT INTO x (v) VALUES (\(value))")
                let stored = try await connection.query("SELECT v FROM x WHERE v = \(value)").decode(String.self)
                #expect(stored == [value])
                // Every table is still there.
                for table in ["x", "outbox", "processed_messages", "dead_letters", "audit_log", "schema_migrations"] {
                    #expect(try await schema.tableExists(table, on: connection), "table \(table) vanished")
                }
            }
        }
    }

    @Test func hostileIdentifierBecomesOneQuotedName() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let name = #"x"; DROP TABLE outbox; --"#
                try await connection.execute("CREATE TABLE \(identifier: name) (v int)")
                #expect(try await schema.tableExists(name, on: connection))
                #expect(try await schema.tableExists("outbox", on: connection))
            }
        }
    }

    @Test func oneQueryRunsAtMostOneStatement() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                // Even through the unsafe door, the extended protocol refuses a second statement.
                let error = await #expect(throws: StoreError.self) {
                    try await connection.execute(SQLQuery(unsafeSQL: "SELECT 1; DROP TABLE outbox"))
                }
                #expect(error?.code == .syntaxError)
                let outboxExists = try await schema.tableExists("outbox", on: connection)
                #expect(outboxExists)
            }
        }
    }
}
