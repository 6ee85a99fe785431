import Foundation
import PPFContracts
import PPFStore
import PPFTestSupport
import Testing

/// PostgreSQL restarted under running services (a private server,
/// ``ThrowawayPostgres``): they log, retry and resume without a restart of
/// their own, and a ratio event emitted after the restart is answered and
/// planned exactly once.
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(4))), .tags(.slow)) struct PostgresRestartTests {
    @Test func servicesRetryThroughAPostgresRestartAndAnswerAnEventEmittedAfterIt() async throws {
        let server = try await ThrowawayPostgres.initialize()
        do {
            try await server.start()
            try await RunTimeStack.with(server: server.url) { stack in
                let pruner = try stack.start("pruner")
                let agent = try await stack.startAgent()
                let host = try stack.start("model-host")
                try await host.waitForOutput("serving '\(stack.model.modelId)' as dense", within: .seconds(60))
                let before = try await stack.emit([0.3])
                #expect(try await stack.awaitExactlyOnce(before, planned: true).allSatisfy { $0.isExactlyOnce(planned: true) })

                // Down for a few heartbeats: every service notices (heartbeats, relays, pools fail) and keeps running.
                try await server.stop()
                try await Task.sleep(for: .seconds(4))
                for service in [agent, pruner, host] {
                    #expect(service.output.contains("heartbeat failed"), "\(service.output.suffix(1500))")
                }
                try await server.start()

                // An event emitted after the restart goes through the whole chain.
                let after = try await stack.emit([0.45])
                let accounts = try await stack.awaitExactlyOnce(before + after, planned: true, within: .seconds(90))
                for account in accounts {
                    #expect(account.isExactlyOnce(planned: true),
                            "\(account)\nagent: \(agent.output.suffix(3000))\npruner: \(pruner.output.suffix(2000))")
                }
                try await BrokerRestartTests.awaitServingNewestPlan(stack: stack, host: host)
                #expect(try await eventually(within: .seconds(10)) {
                    [agent, pruner, host].allSatisfy { $0.output.contains("heartbeats resumed") }
                }, "heartbeats resume once PostgreSQL is back")
                try await stack.stopCleanly(agent, pruner, host)
            }
        } catch {
            await server.remove()
            throw error
        }
        await server.remove()
    }
}
