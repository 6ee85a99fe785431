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

    /// The password the tests hand compose (what `make-env.sh` would write).
    static let testPassword = "0123456789abcdef0123456789abcdef"

    /// `docker-compose -f compose.yaml ARGS` (installed by `make setup`), with
    /// `PPF_POSTGRES_PASSWORD` set to ``testPassword`` unless `password` is nil.
    static func dockerCompose(_ arguments: [String], password: String? = testPassword) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var environment = ProcessInfo.processInfo.environment
        environment["PPF_POSTGRES_PASSWORD"] = password
        process.environment = environment
        // A real .env beside the file would supply the password too: hand compose an empty one.
        let emptyEnv = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-empty-\(UUID().uuidString).env")
        try Data().write(to: emptyEnv)
        defer { try? FileManager.default.removeItem(at: emptyEnv) }
        process.arguments = ["docker-compose", "--env-file", emptyEnv.path, "-f", compose.path] + arguments
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

    /// The lines of `service`'s entry in the resolved config (up to the next service).
    static func block(of service: String, in resolved: String) -> String? {
        let lines = resolved.components(separatedBy: "\n")
        guard let start = lines.firstIndex(of: "  \(service):") else { return nil }
        let rest = lines[(start + 1)...].prefix { $0.hasPrefix("   ") || $0.isEmpty }
        return rest.joined(separator: "\n")
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
        // `${PPF_…}` is compose's own interpolation (the password from .env), not a service setting.
        let interpolated = Set(text.matches(of: /\$\{(PPF_[A-Z_]+)/).map { String($0.output.1) })
        let used = Set(text.matches(of: /PPF_[A-Z_]+/).map { String($0.output) }).subtracting(interpolated)
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

    @Test func noPasswordIsWrittenInTheStackAndItRefusesToStartWithoutOne() throws {
        let text = try String(contentsOf: Self.compose, encoding: .utf8)
        #expect(!text.contains("POSTGRES_PASSWORD: ppf") && !text.contains("ppf:ppf@"))
        let resolved = try Self.dockerCompose(["config"])
        #expect(resolved.contains("POSTGRES_PASSWORD: \(Self.testPassword)"))
        #expect(resolved.contains("postgresql://ppf:\(Self.testPassword)@postgres:5432/ppf"))
        let refused = #expect(throws: TestSetupError.self) { _ = try Self.dockerCompose(["config"], password: nil) }
        #expect(refused.map { "\($0)".contains("make-env.sh") } == true, "the error names the fix")
    }

    @Test func theEnvScriptWritesAPrivateRandomPasswordOnceAndKeepsIt() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-env-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = directory.appendingPathComponent("make-env.sh")
        try FileManager.default.copyItem(at: Self.root.appendingPathComponent("infra/deploy/make-env.sh"), to: script)
        func run() throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = [script.path]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
        }
        try run()
        let file = directory.appendingPathComponent(".env")
        let first = try String(contentsOf: file, encoding: .utf8)
        #expect(first.wholeMatch(of: /PPF_POSTGRES_PASSWORD=[0-9a-f]{32}\n/) != nil, "\(first)")
        let mode = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        try run()
        #expect(try String(contentsOf: file, encoding: .utf8) == first, "a second run keeps the password the volume was made with")
    }

    @Test func everyServiceHasAHealthcheckOnItsOwnHeartbeatAndRunsUnprivileged() throws {
        let resolved = try Self.dockerCompose(["config"])
        for service in Self.services {
            let block = try #require(Self.block(of: service, in: resolved), "\(service) is not in the resolved config")
            #expect(block.contains("healthcheck:") && block.contains("- --healthy") && block.contains("- \(service)"),
                    "\(service) has no healthcheck on its own heartbeat")
        }
        let dockerfile = try String(contentsOf: Self.root.appendingPathComponent("infra/deploy/Dockerfile"), encoding: .utf8)
        let runtime = try #require(dockerfile.components(separatedBy: "FROM debian").last)
        #expect(runtime.contains("\nUSER ppf\n"), "the runtime image runs as ppf, not root")
    }

    @Test func kafkaWritesItsLogsOnTheVolume() throws {
        let text = try String(contentsOf: Self.compose, encoding: .utf8)
        let logDirs = try #require(text.firstMatch(of: /KAFKA_LOG_DIRS: (\S+)/)?.output.1)
        #expect(text.contains("kafka-data:\(logDirs)"), "the volume must be mounted where the broker writes")
    }
}
