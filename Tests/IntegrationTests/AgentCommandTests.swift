import Foundation
import PPFContracts
import PPFStore
import PPFTestSupport
import Testing

/// `ppf agent train` and `ppf agent policy` as a person runs them, against
/// the real database and broker in an isolated schema, on the tiny model of
/// ``AgentServiceTests``.
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(3)))) struct AgentCommandTests {
    @Test func theCLITrainsAnAgentVersionOnceAndPrintsItsPolicy() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-agent-cli-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let checkpoint = directory.appendingPathComponent(try AgentServiceTests.writeModel(to: directory)).path

        try await IsolatedDatabase.with { database in
            try await database.pool.withConnection { try await Migrator(logger: Stack.logger).migrate(on: $0) }
            let model = "it-cli-\(UUID().uuidString.prefix(8).lowercased())"
            let predictor = try await AgentServiceTests.storePredictor(model: model, database: database)
            let environment = ["PPF_POSTGRES_URL": database.url, "PPF_KAFKA_BROKERS": Stack.kafkaBrokers]
            let train = ["agent", "train", "--model", model, "--checkpoint", checkpoint, "--ratios", "0.1..0.5",
                         "--iterations", "60", "--seed", "3"]

            let first = try ServiceProcess.start("ppf", train, environment: environment)
            #expect(try await first.waitForExit(within: .seconds(120)) == .exited(0), "\(first.output.suffix(3000))")
            #expect(first.output.contains("step   60/60"), "training prints its progress")
            #expect(first.output.contains("| r | agent: predicted ppl"), "and a table against uniform")
            let version = try await database.pool.withConnection { connection in
                try #require(try await AgentVersionRepository.latest(modelId: model, on: connection))
            }
            #expect(version.predictorVersionId == predictor)
            #expect(version.summary.minimumRatio == 0.1 && version.summary.maximumRatio == 0.5)
            #expect(version.summary.iterations == 60 && version.summary.seed == 3)
            #expect(first.output.contains("agent version \(version.id.uuidString.lowercased())"))
            #expect(try await database.count("SELECT count(*)::int FROM outbox WHERE topic = \(Topic.agentVersions)") == 1)
            #expect(try await database.count("SELECT count(*)::int FROM outbox WHERE published_at IS NULL") == 0,
                    "the version event is published")

            let again = try ServiceProcess.start("ppf", train, environment: environment)
            #expect(try await again.waitForExit(within: .seconds(60)) == .exited(0), "\(again.output.suffix(3000))")
            #expect(again.output.contains("nothing to do"))
            #expect(try await database.count("SELECT count(*)::int FROM agent_versions WHERE model_id = \(model)") == 1)

            let policyFile = directory.appendingPathComponent("agent-policy.json").path
            let policy = try ServiceProcess.start("ppf", ["agent", "policy", "--model", model, "--ratio", "0.3", "--json",
                                                          "--save-policy", policyFile], environment: environment)
            #expect(try await policy.waitForExit(within: .seconds(60)) == .exited(0), "\(policy.output.suffix(3000))")
            let output = policy.output
            let start = try #require(output.firstIndex(of: "{"))
            let end = try #require(output.lastIndex(of: "}"))
            let object = try #require(try JSONSerialization.jsonObject(with: Data(output[start...end].utf8)) as? [String: Any])
            #expect(object["agentVersionId"] as? String == version.id.uuidString.lowercased())
            #expect(object["metric"] as? String == "flap")
            #expect(abs((object["achievedRatio"] as? Double ?? 0) - 0.3) <= 1e-3)
            #expect((object["predictedPerplexity"] as? Double ?? 0) > 1)
            #expect(((object["policy"] as? [String: Any])?["layers"] as? [Any])?.count == AgentServiceTests.blocks)
            #expect(FileManager.default.fileExists(atPath: policyFile), "the policy file for `ppf prune --policy file:`")

            let table = try ServiceProcess.start("ppf", ["agent", "policy", "--model", model, "--ratio", "0.3"],
                                                 environment: environment)
            #expect(try await table.waitForExit(within: .seconds(60)) == .exited(0))
            #expect(table.output.contains("| block | attention removed |") && table.output.contains("predicted perplexity"))

            let outside = try ServiceProcess.start("ppf", ["agent", "policy", "--model", model, "--ratio", "0.7"],
                                                   environment: environment)
            #expect(try await outside.waitForExit(within: .seconds(60)) != .exited(0))
            #expect(outside.output.contains("outside 0.1...0.5"), "\(outside.output.suffix(1000))")

            let unknown = try ServiceProcess.start("ppf", ["agent", "policy", "--model", "no-such-model", "--ratio", "0.3"],
                                                   environment: environment)
            #expect(try await unknown.waitForExit(within: .seconds(60)) != .exited(0))
            #expect(unknown.output.contains("has no agent version yet"))
        }
    }
}
