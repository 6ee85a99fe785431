import Foundation
import PPFTestSupport
import Testing
@testable import PPFStore

/// Unit tests of configuration, conninfo and backoff: no database.
@Suite struct ConfigurationTests {
    @Test func urlWithEverythingParses() throws {
        let configuration = try PostgresConfiguration(
            url: "postgresql://svc%40ppf:p%40ss%3Aword@db.local:6543/ppf_main?application_name=agent&connect_timeout=7&statement_timeout=1500&search_path=a,%20b")
        #expect(configuration.user == "svc@ppf")
        #expect(configuration.password == "p@ss:word")
        #expect(configuration.host == "db.local")
        #expect(configuration.port == 6543)
        #expect(configuration.database == "ppf_main")
        #expect(configuration.applicationName == "agent")
        #expect(configuration.connectTimeout == .seconds(7))
        #expect(configuration.statementTimeout == .milliseconds(1500))
        #expect(configuration.searchPath == ["a", "b"])
    }

    @Test func localStackURLGetsDocumentedDefaults() throws {
        let configuration = try PostgresConfiguration(url: "postgresql://ppf@127.0.0.1:55432/ppf")
        #expect(configuration.password == nil)
        #expect(configuration.applicationName == "ppf")
        #expect(configuration.statementTimeout == .seconds(30))
        #expect(configuration.searchPath.isEmpty)
        #expect(configuration.connectRetry == .standard)
    }

    @Test(arguments: [
        "mysql://ppf@localhost/ppf", "postgresql://localhost/ppf", "postgresql://ppf@localhost",
        "postgresql://ppf@localhost/ppf?sslmod=require", "postgresql://ppf@localhost:0/ppf", "not a url",
    ])
    func invalidURLThrowsInvalidConfiguration(url: String) {
        #expect { try PostgresConfiguration(url: url) } throws: { error in
            (error as? StoreError)?.code == .invalidConfiguration
        }
    }

    @Test func invalidURLErrorDoesNotRepeatThePassword() {
        #expect { try PostgresConfiguration(url: "postgresql://ppf:s3cret@localhost/ppf?bogus=1") } throws: { error in
            !"\(error)".contains("s3cret")
        }
    }

    @Test func descriptionHidesThePassword() {
        let configuration = PostgresConfiguration(user: "ppf", password: "s3cret", database: "ppf")
        #expect(!configuration.description.contains("s3cret"))
        #expect(configuration.description == "postgresql://ppf:***@127.0.0.1:5432/ppf (application ppf)")
    }

    @Test func conninfoQuotesAndEscapesEveryValue() {
        var configuration = PostgresConfiguration(
            host: "db", port: 5433, user: "o'brien", password: #"a\b' c"#, database: "my db",
            applicationName: "x", connectTimeout: .milliseconds(500), statementTimeout: .milliseconds(2500),
            searchPath: ["t_1", "public"])
        #expect(configuration.conninfo == #"""
            host='db' port='5433' user='o\'brien' dbname='my db' application_name='x' connect_timeout='2' \#
            client_encoding='UTF8' keepalives='1' keepalives_idle='10' keepalives_interval='5' keepalives_count='3' \#
            password='a\\b\' c' options='-c statement_timeout=2500 -c search_path=t_1,public'
            """#)
        configuration.statementTimeout = nil
        configuration.searchPath = [#"odd name\x"#]
        #expect(configuration.conninfo.hasSuffix(#"options='-c search_path=odd\\ name\\\\x'"#))
    }

    @Test func retryScheduleDoublesUpToTheCap() {
        let policy = RetryPolicy(initialDelay: .milliseconds(100), multiplier: 2, maxDelay: .seconds(1), maxAttempts: nil)
        let delays = (1...7).map { policy.delay(afterFailedAttempt: $0) }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800),
                           .seconds(1), .seconds(1), .seconds(1)])
        #expect(policy.delay(afterFailedAttempt: 10_000) == .seconds(1))
    }

    @Test func retryScheduleStopsAfterMaxAttempts() {
        let policy = RetryPolicy(initialDelay: .seconds(1), multiplier: 3, maxDelay: .seconds(60), maxAttempts: 3)
        #expect(policy.delay(afterFailedAttempt: 1) == .seconds(1))
        #expect(policy.delay(afterFailedAttempt: 2) == .seconds(3))
        #expect(policy.delay(afterFailedAttempt: 3) == nil)
    }

    @Test func secondsAreFormattedForLogs() {
        #expect(formatSeconds(.milliseconds(400)) == "0.4 s")
        #expect(formatSeconds(.milliseconds(1600)) == "1.6 s")
        #expect(formatSeconds(.seconds(5)) == "5 s")
    }

    @Test func sqlStatesMapToNamedRetriableCodes() {
        #expect(StoreError.code(forSQLState: "23505") == .uniqueViolation)
        #expect(StoreError.code(forSQLState: "40001") == .serializationFailure)
        #expect(StoreError.code(forSQLState: "42P01") == .undefinedTable)
        #expect(StoreError.code(forSQLState: "08006") == .connectionFailure)
        #expect(StoreError.code(forSQLState: "XX000") == .serverError)
        #expect(StoreError(.serializationFailure, "").isRetriable)
        #expect(StoreError(.deadlockDetected, "").isRetriable)
        #expect(StoreError(.connectionFailure, "").isRetriable)
        #expect(!StoreError(.uniqueViolation, "").isRetriable)
    }
}
