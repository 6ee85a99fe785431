import Foundation
import PPFRuntime
import PPFTestSupport
import Testing

/// The compose stack and Dockerfile cannot run here (no Docker engine), so
/// they are validated statically: docker-compose parses and resolves the
/// file, every PPF service is in it, evaluators can be scaled, and every
/// setting it passes is one the services read.
@Suite struct DeploymentConfigurationTests {
    static let root = URL(fileURLWithPath: repositoryRoot())
    static let compose = root.appendingPathComponent("infra/deploy/compose.yaml")
    static let services = ["model-host", "pruner", "agent", "predictor", "evaluator"]

    /// `docker-compose -f compose.yaml ARGS` (installed by `make setup`).
    static func dockerCompose(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["docker-compose", "-f", compose.path] + arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestSetupError("docker-compose \(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): \(problems)")
        }
        return text
    }

    @Test func theComposeFileIsValidAndHoldsKafkaPostgresAndTheFiveServices() throws {
        let listed = Set(try Self.dockerCompose(["config", "--services"]).split(separator: "\n").map(String.init))
        #expect(listed == Set(Self.services + ["kafka", "postgres"]))
    }

    @Test func evaluatorsCanBeScaledBecauseTheyClaimNoFixedNameOrPort() throws {
        let resolved = try Self.dockerCompose(["config"])
        let evaluator = try #require(resolved.components(separatedBy: "\n  evaluator:\n").dropFirst().first)
        let block = evaluator.components(separatedBy: "\n  ").first ?? evaluator
        #expect(!block.contains("container_name"))
        #expect(!block.contains("ports:"))
    }

    @Test func everyPPFVariableInTheStackIsASettingTheServicesRead() throws {
        let text = try String(contentsOf: Self.compose, encoding: .utf8)
        let used = Set(text.matches(of: /PPF_[A-Z_]+/).map { String($0.output) })
        let known = Set(Settings.environmentVariables)
        #expect(!used.isEmpty)
        #expect(used.subtracting(known).isEmpty, "unknown settings in compose.yaml: \(used.subtracting(known))")
    }

    @Test func theDockerfileBuildsEveryServiceExecutable() throws {
        let dockerfile = try String(contentsOf: Self.root.appendingPathComponent("infra/deploy/Dockerfile"), encoding: .utf8)
        for product in Self.services + ["ppf"] {
            #expect(dockerfile.contains(".build/release/\(product)"), "the image must contain \(product)")
        }
    }
}
