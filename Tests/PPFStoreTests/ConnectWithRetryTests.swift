import Foundation
import Logging
import PPFTestSupport
import Testing
@testable import PPFStore

/// Integration: a service that starts before its database waits for it.
@Suite(.timeLimit(.minutes(TestDeadlines.minutes(2)))) struct ConnectWithRetryTests {
    @Test func connectWithRetryLogsRetriesAndConnectsOnceTheServerStarts() async throws {
        let server = try await ThrowawayPostgres.initialize()
        let recorder = LogRecorder()
        let configuration = PostgresConfiguration(
            port: server.port, user: "ppf", database: "postgres", applicationName: "ppf-retry-test",
            connectTimeout: .seconds(2),
            connectRetry: RetryPolicy(initialDelay: .milliseconds(100), multiplier: 2, maxDelay: .milliseconds(400), maxAttempts: 200))
        let clock = ContinuousClock()
        let began = clock.now
        let connecting = Task { try await connectWithRetry(configuration, logger: recorder.logger) }
        do {
            // Wait for three failed attempts rather than a fixed time: on a loaded runner a fixed
            // sleep can end before the third retry has run.
            let waitedForRetries = clock.now + TestDeadlines.scaled(.seconds(60))
            while recorder.messages(at: .warning).count < 3, clock.now < waitedForRetries {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(recorder.messages(at: .warning).count >= 3, "nothing listens yet, so several attempts must have failed")
            try await server.start()
            let connection = try await withTimeLimit(.seconds(20)) {
                try await withTaskCancellationHandler { try await connecting.value } onCancel: { connecting.cancel() }
            }
            let elapsed = clock.now - began
            let one = try await connection.query("SELECT 1::int4").decode(Int32.self)
            #expect(one == [1])
            #expect(elapsed >= .milliseconds(300), "three attempts are 0.1 s and 0.2 s of backoff apart")

            let warnings = recorder.messages(at: .warning)
            let first = try #require(warnings.first)
            #expect(first.hasPrefix("PostgreSQL at 127.0.0.1:\(server.port) is not accepting connections ("))
            #expect(first.contains("Connection refused"))
            #expect(first.hasSuffix("retrying in 0.1 s (attempt 1)"))
            #expect(warnings.contains { $0.hasSuffix("retrying in 0.4 s (attempt 3)") })
            #expect(recorder.messages(at: .info).contains { $0.contains("connected to PostgreSQL at 127.0.0.1:\(server.port) after") })
        } catch {
            connecting.cancel()
            await server.remove()
            throw error
        }
        await server.remove()
    }

    @Test func connectWithRetryGivesUpAfterMaxAttempts() async throws {
        let port = try freeLoopbackPort()
        let recorder = LogRecorder()
        let configuration = PostgresConfiguration(
            port: port, user: "ppf", database: "ppf",
            connectRetry: RetryPolicy(initialDelay: .milliseconds(10), maxAttempts: 3))
        let error = await #expect(throws: StoreError.self) {
            try await connectWithRetry(configuration, logger: recorder.logger)
        }
        #expect(error?.code == .connectionFailure)
        #expect(error?.isRetriable == true)
        #expect(recorder.messages(at: .warning).count == 2)
        #expect(recorder.messages(at: .error).first?.contains("giving up after 3 attempts") == true)
    }
}
