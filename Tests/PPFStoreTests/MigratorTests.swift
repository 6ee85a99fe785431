import Foundation
import PPFTestSupport
import Testing
@testable import PPFStore

/// Integration: migrations apply once, in order, safely in parallel.
@Suite(.timeLimit(.minutes(TestDeadlines.minutes(1)))) struct MigratorTests {
    /// The version after the last shipped migration (versions are reserved per
    /// branch, so the list may have gaps: not `count + 1`).
    static let next = (PPFSchema.migrations.last?.version ?? 0) + 1
    static let shipped = PPFSchema.migrations.map(\.version)
    static let extra = Migration(version: next, name: "test_readings", sql: """
        CREATE TABLE test_readings (id bigserial PRIMARY KEY, perplexity double precision NOT NULL);
        CREATE INDEX test_readings_perplexity ON test_readings (perplexity);
        """)

    @Test func runningTwiceAppliesEachMigrationOnceAndRecordsIt() async throws {
        try await TestDatabase.withSchema(migrated: false) { schema in
            let connection = try await schema.connect()
            let first = try await Migrator(logger: quietLogger).migrate(on: connection)
            let second = try await Migrator(logger: quietLogger).migrate(on: connection)
            #expect(first.map(\.version) == PPFSchema.migrations.map(\.version))
            #expect(second.isEmpty)
            let recorded = try await connection.query("SELECT version, checksum FROM schema_migrations").decode((Int, String).self)
            #expect(recorded.map(\.0) == Self.shipped)
            #expect(recorded.map(\.1) == PPFSchema.migrations.map(\.checksum))
            for table in ["outbox", "processed_messages", "dead_letters", "audit_log"] {
                #expect(try await schema.tableExists(table, on: connection), "migration 1 should create \(table)")
            }
        }
    }

    @Test func addingAMigrationAppliesOnlyTheNewOne() async throws {
        try await TestDatabase.withSchema(migrated: true) { schema in
            let connection = try await schema.connect()
            let applied = try await Migrator(PPFSchema.migrations + [Self.extra], logger: quietLogger).migrate(on: connection)
            #expect(applied == [Self.extra])
            #expect(try await schema.tableExists("test_readings", on: connection))
        }
    }

    @Test func concurrentMigratorsTakeTurnsAndApplyEachMigrationOnce() async throws {
        try await TestDatabase.withSchema(migrated: false) { schema in
            let migrations = PPFSchema.migrations + [Self.extra]
            let connections = [try await schema.connect(), try await schema.connect(), try await schema.connect()]
            let applied = try await withThrowingTaskGroup(of: [Migration].self) { group in
                for connection in connections {
                    group.addTask { try await Migrator(migrations, logger: quietLogger).migrate(on: connection) }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(applied.map(\.version).sorted() == Self.shipped + [Self.next])
            let recorded = try await connections[0].query("SELECT version FROM schema_migrations ORDER BY version").decode(Int.self)
            #expect(recorded == Self.shipped + [Self.next])
        }
    }

    @Test func changedSQLOfAnAppliedMigrationIsRejected() async throws {
        try await TestDatabase.withSchema(migrated: true) { schema in
            let edited = Migration(version: 1, name: PPFSchema.migrations[0].name, sql: PPFSchema.migrations[0].sql + "\n-- edit")
            let error = await #expect(throws: StoreError.self) {
                try await Migrator([edited], logger: quietLogger).migrate(on: try await schema.connect())
            }
            #expect(error?.code == .migrationChecksumMismatch)
        }
    }

    @Test func versionsOutOfOrderAreRejectedBeforeAnythingRuns() async throws {
        try await TestDatabase.withSchema(migrated: false) { schema in
            let connection = try await schema.connect()
            let error = await #expect(throws: StoreError.self) {
                try await Migrator([Self.extra, PPFSchema.migrations[0]], logger: quietLogger).migrate(on: connection)
            }
            #expect(error?.code == .invalidMigration)
            let exists = try await schema.tableExists("schema_migrations", on: connection)
            #expect(!exists)
        }
    }

    @Test func failingMigrationIsRolledBackWhole() async throws {
        try await TestDatabase.withSchema(migrated: true) { schema in
            let broken = Migration(version: Self.next, name: "broken", sql: """
                CREATE TABLE half_done (id int);
                INSERT INTO no_such_table VALUES (1);
                """)
            let connection = try await schema.connect()
            let error = await #expect(throws: StoreError.self) {
                try await Migrator(PPFSchema.migrations + [broken], logger: quietLogger).migrate(on: connection)
            }
            #expect(error?.code == .undefinedTable)
            #expect(error?.message.contains("migration \(Self.next) 'broken' failed") == true)
            let halfDone = try await schema.tableExists("half_done", on: connection)
            #expect(!halfDone)
            let recorded = try await connection.query("SELECT version FROM schema_migrations").decode(Int.self)
            #expect(recorded == Self.shipped)
        }
    }
}
