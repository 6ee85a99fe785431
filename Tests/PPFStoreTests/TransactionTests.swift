import Foundation
import PPFTestSupport
import Testing
@testable import PPFStore

/// Integration: transactions, server errors, timeouts and reconnection.
@Suite(.timeLimit(.minutes(TestDeadlines.minutes(1)))) struct TransactionTests {
    struct Rollback: Error {}

    @Test func throwingInsideATransactionRollsEverythingBack() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { try await $0.execute("CREATE TABLE notes (v text)") }
            await #expect(throws: Rollback.self) {
                try await schema.pool.withTransaction { connection in
                    try await connection.execute("INSERT INTO notes VALUES (\("first"))")
                    try await connection.execute("INSERT INTO notes VALUES (\("second"))")
                    throw Rollback()
                }
            }
            try await schema.pool.withTransaction { connection in
                try await connection.execute("INSERT INTO notes VALUES (\("kept"))")
            }
            let notes = try await schema.pool.withConnection { try await $0.query("SELECT v FROM notes").decode(String.self) }
            #expect(notes == ["kept"])
        }
    }

    @Test func commitOfATransactionWithASwallowedErrorThrowsTransactionAborted() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { try await $0.execute("CREATE TABLE notes (v text PRIMARY KEY)") }
            let error = await #expect(throws: StoreError.self) {
                try await schema.pool.withTransaction { connection in
                    try await connection.execute("INSERT INTO notes VALUES (\("a"))")
                    _ = try? await connection.execute("INSERT INTO notes VALUES (\("a"))")  // unique violation, ignored
                }
            }
            #expect(error?.code == .transactionAborted)
            let count = try await schema.pool.withConnection { try await $0.query("SELECT count(*) FROM notes").decode(Int.self) }
            #expect(count == [0])
        }
    }

    @Test func serverErrorsCarryTheirSQLStateAsANamedCode() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                try await connection.execute("CREATE TABLE notes (v text PRIMARY KEY)")
                try await connection.execute("INSERT INTO notes VALUES (\("a"))")
                let duplicate = await #expect(throws: StoreError.self) {
                    try await connection.execute("INSERT INTO notes VALUES (\("a"))")
                }
                #expect(duplicate?.code == .uniqueViolation)
                #expect(duplicate?.sqlState == "23505")
                #expect(duplicate?.isRetriable == false)
                #expect(duplicate?.message.contains("already exists") == true)
                let missing = await #expect(throws: StoreError.self) { try await connection.execute("SELECT * FROM no_such_table") }
                #expect(missing?.code == .undefinedTable)
                #expect(missing?.query == "SELECT * FROM no_such_table")
                // The connection is still usable after errors.
                let one = try await connection.query("SELECT 1::int4").decode(Int32.self)
                #expect(one == [1])
            }
        }
    }

    @Test func serializationFailureIsRetriedWhenAsked() async throws {
        try await TestDatabase.withSchema(timeLimit: .seconds(30)) { schema in
            try await schema.pool.withConnection { try await $0.execute("CREATE TABLE doctors (name text, on_call bool)") }
            try await schema.pool.withConnection {
                try await $0.execute("INSERT INTO doctors VALUES ('a', true), ('b', true)")
            }
            // Classic write skew: both read "two on call", both take one off.
            // Under SERIALIZABLE one of them must fail with 40001 and run again.
            let barrier = Barrier(parties: 2)
            let attempts = Counter()
            func takeOffCall(_ name: String) async throws {
                try await schema.pool.withTransaction(.serializable, retries: 3) { connection in
                    let attempt = await attempts.increment()
                    let onCall = try await connection.query("SELECT count(*) FROM doctors WHERE on_call").decode(Int.self)
                    if attempt <= 2 { await barrier.arrive() }
                    if onCall == [2] {
                        try await connection.execute("UPDATE doctors SET on_call = false WHERE name = \(name)")
                    }
                }
            }
            async let first: Void = takeOffCall("a")
            async let second: Void = takeOffCall("b")
            _ = try await (first, second)
            #expect(await attempts.value >= 3, "one transaction should have been run again")
            let onCall = try await schema.pool.withConnection {
                try await $0.query("SELECT count(*) FROM doctors WHERE on_call").decode(Int.self)
            }
            #expect(onCall == [1])
        }
    }

    @Test func statementTimeoutCancelsARunawayStatement() async throws {
        try await TestDatabase.withSchema { schema in
            var configuration = schema.configuration
            configuration.statementTimeout = .milliseconds(200)
            let connection = try await TestDatabase.connect(configuration)
            let error = await #expect(throws: StoreError.self) { try await connection.execute("SELECT pg_sleep(5)") }
            #expect(error?.code == .queryCanceled)
        }
    }

    @Test func poolReconnectsAConnectionTheServerTerminated() async throws {
        try await TestDatabase.withSchema { schema in
            let pool = PGPool(configuration: schema.configuration, size: 1, logger: quietLogger)
            let firstPID = try await pool.withConnection { await $0.backendPID }
            let admin = try await schema.connect()
            // With a timeout, pg_terminate_backend returns once the process has
            // exited, i.e. once its socket is closed.
            let terminated = try await admin.query("SELECT pg_terminate_backend(\(firstPID), 5000)").decode(Bool.self)
            #expect(terminated == [true])
            // The next borrower gets a working connection to a new backend.
            let (pid, one) = try await pool.withConnection { connection in
                (await connection.backendPID, try await connection.query("SELECT 1::int4").decode(Int32.self))
            }
            #expect(one == [1])
            #expect(pid != firstPID)
            await pool.close()
        }
    }

    @Test func statementOnAKilledConnectionFailsRetriably() async throws {
        try await TestDatabase.withSchema { schema in
            let victim = try await schema.connect()
            let admin = try await schema.connect()
            let victimPID = await victim.backendPID
            let terminated = try await admin.query("SELECT pg_terminate_backend(\(victimPID), 5000)").decode(Bool.self)
            #expect(terminated == [true])
            let error = await #expect(throws: StoreError.self) { try await victim.execute("SELECT 1") }
            #expect(error?.isRetriable == true)
            #expect(error?.code == .connectionFailure || error?.code == .serverShutdown)
        }
    }

    @Test func releasingTheLastReferenceClosesTheServerSession() async throws {
        try await TestDatabase.withSchema { schema in
            let admin = try await schema.connect()
            var connection: PGConnection? = try await schema.connect()
            let pid = try #require(await connection?.backendPID)
            connection = nil
            try await expectEventually {
                try await admin.query("SELECT count(*) FROM pg_stat_activity WHERE pid = \(pid)").decode(Int.self) == [0]
            }
        }
    }

    @Test func poolNeverLendsMoreConnectionsThanItsSize() async throws {
        try await TestDatabase.withSchema { schema in
            let pool = PGPool(configuration: schema.configuration, size: 2, logger: quietLogger)
            let inUse = Counter()
            let peak = Counter()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await pool.withConnection { connection in
                            await peak.raise(to: await inUse.increment())
                            try await connection.execute("SELECT pg_sleep(0.05)")
                            await inUse.decrement()
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(await peak.value == 2)
            await pool.close()
        }
    }
}

/// Lets `parties` tasks wait for each other.
actor Barrier {
    private let parties: Int
    private var arrived = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(parties: Int) { self.parties = parties }

    func arrive() async {
        arrived += 1
        if arrived >= parties {
            waiting.forEach { $0.resume() }
            waiting.removeAll()
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }
}

/// A shared counter for tests.
actor Counter {
    private(set) var value = 0
    @discardableResult func increment() -> Int { value += 1; return value }
    func decrement() { value -= 1 }
    func raise(to candidate: Int) { value = max(value, candidate) }
}
