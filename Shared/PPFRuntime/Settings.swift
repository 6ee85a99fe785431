import Foundation
import PPFBus
import PPFStore

/// Every setting a PPF service or the CLI reads, as one `Sendable` value.
///
/// This is the only place that reads the process environment and command
/// line (style habit 5). Each setting has an environment variable
/// (`PPF_…`) and a flag (`--kebab-case`); a flag wins over the environment,
/// the environment over the documented default.
public struct Settings: Sendable, Equatable {
    /// Service name, e.g. `"agent"`; part of every log line and heartbeat.
    public var serviceName: String
    /// This instance's id (several evaluators run at once). Default: `<host>-<pid>`.
    public var instanceId: String
    /// Kafka bootstrap servers. `PPF_KAFKA_BROKERS`, default `127.0.0.1:19092` (make up).
    public var kafkaBrokers: String
    /// Consumer-group session timeout. `PPF_KAFKA_SESSION_TIMEOUT_MS`, default 6000:
    /// librdkafka's 45 s default makes group joins take ~23 s on the local broker (design.md).
    public var kafkaSessionTimeoutMilliseconds: Int
    /// Where a consumer group with no committed offset starts reading: `earliest` or `latest`.
    /// `PPF_KAFKA_AUTO_OFFSET_RESET`, default `earliest`, so a group that joins after messages were
    /// produced still sees them. `latest` suits a throwaway group that must ignore the backlog
    /// (the evaluator scaling benchmark), provided it joins before the messages it wants are produced.
    public var kafkaAutoOffsetReset: KafkaConfiguration.AutoOffsetReset
    /// PostgreSQL URL. `PPF_POSTGRES_URL`, default the local stack's (make up):
    /// `postgresql://ppf:PASSWORD@127.0.0.1:55432/ppf`, with the password
    /// `make up` generated in `.run/postgres/ppf.password` (none if absent).
    public var postgresURL: String
    /// OpenBLAS threads for this process. `PPF_BLAS_THREADS`, default 0 = one per core.
    /// Several services on 2 cores oversubscribe the CPU; the local stack sets 1 per evaluator.
    public var blasThreads: Int
    /// Log level: trace, debug, info, notice, warning, error, critical. `PPF_LOG_LEVEL`, default info.
    public var logLevel: String
    /// Log format: `text` (logfmt-style, for people) or `json` (one object per line). `PPF_LOG_FORMAT`.
    public var logFormat: String
    /// Seconds between heartbeats. `PPF_HEARTBEAT_SECONDS`, default 5.
    public var heartbeatSeconds: Double
    /// The folder holding the provisioned model(s). `PPF_MODEL_DIR`, default `<repo>/.deps/models`.
    public var modelDirectory: String
    /// The folder holding the prepared corpus splits. `PPF_CORPUS_DIR`, default `<repo>/.deps/corpus`.
    public var corpusDirectory: String
    /// Prefixed to every consumer-group id this process joins. `PPF_CONSUMER_GROUP_PREFIX`,
    /// default empty. Lets two stacks (or a test) share one broker without splitting each other's partitions.
    public var consumerGroupPrefix: String
    /// The predictor retrains once this many measurements of a model arrived since its
    /// newest version. `PPF_PREDICTOR_RETRAIN_AFTER`, default 32.
    public var predictorRetrainAfter: Int
    /// The id of the base model this process serves or measures; requests for another id are
    /// rejected. `PPF_MODEL_ID`, default `smollm2-135m`.
    public var modelId: String
    /// The base model's GGUF file, inside ``modelDirectory``. `PPF_MODEL_FILE`,
    /// default `SmolLM2-135M-Instruct.Q4_1.gguf` (the provisioned model).
    public var modelFile: String
    /// Where calibration statistics are cached, one JSON file per (model, corpus, windows).
    /// `PPF_CALIBRATION_CACHE_DIR`, default `<repo>/.deps/cache/calibration`.
    public var calibrationCacheDirectory: String
    /// When not empty, the pruner also exports every plan's pruned model as GGUF into this
    /// folder (`<model id>-<plan id>.gguf`) and records the path with the plan.
    /// `PPF_PRUNER_EXPORT_DIR`, default empty (no export).
    public var prunerExportDirectory: String
    /// The importance metric the pruner uses for a policy whose announcement is lost (a
    /// policy row reconciled without its PolicyPublished, which names the metric).
    /// `PPF_PRUNER_DEFAULT_METRIC`, default `wanda-sp`.
    public var prunerDefaultMetric: String
    /// The target ratios the agent is trained for and answers: `PPF_AGENT_RATIOS` as
    /// `low..high`, default `0.05..0.6` (the range the agent was measured on, docs/agent.md).
    public var agentRatioRange: ClosedRange<Double>
    /// Gradient steps per agent training. `PPF_AGENT_ITERATIONS`, default 300 (docs/agent.md:
    /// gaps stop improving after about 250).
    public var agentIterations: Int
    /// Seed of agent training and static search, so a version is reproducible. `PPF_AGENT_SEED`, default 1.
    public var agentSeed: UInt64
    /// `κ` in the agent's reward `−mean − κ·std`, or nil for the value the
    /// predictor version calibrated on its held-out policies
    /// (``UncertaintyCalibration`` in PPFPredictor; 1 when it has none).
    /// `PPF_AGENT_UNCERTAINTY_PENALTY`: `calibrated` (default) or a number in [0, 100].
    public var agentUncertaintyPenalty: Double?
    /// Static mode verifies this many of the search's best candidates with true measurements.
    /// `PPF_AGENT_VERIFY_TOP_K`, default 3.
    public var agentVerifyTopK: Int
    /// Whether the agent asks the evaluators for a spot-check measurement of
    /// each dynamic policy it publishes (in the predictor's regime), so
    /// measurements keep feeding the predictor where the agent goes.
    /// `PPF_AGENT_SPOT_CHECKS` (`true`/`false`), default true.
    public var agentSpotChecks: Bool
    /// How long static mode waits for its verification measurements before answering with
    /// those that arrived (or rejecting when none did). `PPF_AGENT_VERIFY_TIMEOUT_SECONDS`,
    /// default 3600: on 2 cores a real measurement takes about a minute, behind any bootstrap backlog.
    public var agentVerifyTimeoutSeconds: Double
    /// Seconds between reconciliations while a service runs (besides the one at start): the agent
    /// answers ratio events without an outcome, the pruner plans published policies without a
    /// plan, model-host swaps to a newer stored plan, each for work at least this old. This is how
    /// messages a restarted broker forgot are still answered. `PPF_RECONCILE_SECONDS`, default 30.
    public var reconcileSeconds: Double
    /// How long an evaluation request stays unmeasured before an idle evaluator announces
    /// it again (at most three times): the broker may have lost its message.
    /// `PPF_EVALUATOR_REPUBLISH_SECONDS`, default 120.
    public var evaluatorRepublishSeconds: Double
    /// How long published outbox entries, inbox claims and dead letters are
    /// kept: `PPF_OUTBOX_RETENTION_DAYS` (7), `PPF_INBOX_RETENTION_DAYS` (14:
    /// longer than the broker keeps a topic, so a redelivery still finds its
    /// claim) and `PPF_DEAD_LETTER_RETENTION_DAYS` (30), each a number of days
    /// or `forever`. Every service prunes once an hour (``RetentionService``).
    public var retention: RetentionPolicy
    /// MiB the evaluator's dense prefix cache may hold: the dense model's hidden
    /// states at block boundaries of the regime it measures, so a policy that
    /// leaves its first blocks unpruned (a sensitivity probe) starts at the
    /// first pruned block. `PPF_PREFIX_CACHE_MB`, default 512; 0 turns it off.
    public var prefixCacheMegabytes: Int

    /// The local stack's URL, with the password `infra/stack.sh` keeps under `.run/postgres/`
    /// (a 32-hex-digit string, so it needs no escaping), or none when the stack has not made one.
    static func localStackURL(root: String) -> String {
        let file = root + "/.run/postgres/ppf.password"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return "postgresql://ppf@127.0.0.1:55432/ppf" }
        let password = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !password.isEmpty, password.allSatisfy(\.isHexDigit) else { return "postgresql://ppf@127.0.0.1:55432/ppf" }
        return "postgresql://ppf:\(password)@127.0.0.1:55432/ppf"
    }

    /// The documented defaults for `serviceName`.
    public static func defaults(serviceName: String) -> Settings {
        let root = repositoryRoot()
        return Settings(
            serviceName: serviceName,
            instanceId: "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)",
            kafkaBrokers: "127.0.0.1:19092",
            kafkaSessionTimeoutMilliseconds: 6000,
            kafkaAutoOffsetReset: .earliest,
            postgresURL: localStackURL(root: root),
            blasThreads: 0,
            // People at a terminal want results, not start-up chatter.
            logLevel: serviceName == "ppf" ? "warning" : "info",
            logFormat: "text",
            heartbeatSeconds: 5,
            modelDirectory: root + "/.deps/models",
            corpusDirectory: root + "/.deps/corpus",
            consumerGroupPrefix: "",
            predictorRetrainAfter: 32,
            modelId: "smollm2-135m",
            modelFile: "SmolLM2-135M-Instruct.Q4_1.gguf",
            calibrationCacheDirectory: root + "/.deps/cache/calibration",
            prunerExportDirectory: "",
            prunerDefaultMetric: "wanda-sp",
            agentRatioRange: 0.05...0.6,
            agentIterations: 300,
            agentSeed: 1,
            agentUncertaintyPenalty: nil,
            agentVerifyTopK: 3,
            agentSpotChecks: true,
            agentVerifyTimeoutSeconds: 3600,
            reconcileSeconds: 30,
            evaluatorRepublishSeconds: 120,
            retention: .standard,
            prefixCacheMegabytes: 512
        )
    }

    /// Reads the settings from `environment` and `arguments` (flags of the form
    /// `--name value` or `--name=value`); unknown flags are returned in
    /// `remainingArguments` so a CLI parser can handle them.
    /// - Throws: ``SettingsError`` for a malformed value.
    public static func load(
        serviceName: String,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        arguments: [String] = Array(CommandLine.arguments.dropFirst())
    ) throws -> (settings: Settings, remainingArguments: [String]) {
        var settings = Settings.defaults(serviceName: serviceName)
        var flags: [String: String] = [:]
        var remaining: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument.hasPrefix("--"), let key = Key(flag: argument) {
                if let equals = argument.firstIndex(of: "=") {
                    flags[key.rawValue] = String(argument[argument.index(after: equals)...])
                } else if index + 1 < arguments.count {
                    flags[key.rawValue] = arguments[index + 1]
                    index += 1
                } else {
                    throw SettingsError(setting: key.flag, value: "", reason: "the flag needs a value")
                }
            } else {
                remaining.append(argument)
            }
            index += 1
        }
        for key in Key.allCases {
            guard let value = flags[key.rawValue] ?? environment[key.environmentName] else { continue }
            try settings.apply(key, value)
        }
        return (settings, remaining)
    }

    /// Every environment variable a PPF process reads, for documentation and checks.
    public static var environmentVariables: [String] { Key.allCases.map(\.environmentName) }

    /// The names a setting goes by.
    enum Key: String, CaseIterable {
        case instanceId = "instance-id"
        case kafkaBrokers = "kafka-brokers"
        case kafkaSessionTimeout = "kafka-session-timeout-ms"
        case kafkaAutoOffsetReset = "kafka-auto-offset-reset"
        case postgresURL = "postgres-url"
        case blasThreads = "blas-threads"
        case logLevel = "log-level"
        case logFormat = "log-format"
        case heartbeatSeconds = "heartbeat-seconds"
        case modelDirectory = "model-dir"
        case corpusDirectory = "corpus-dir"
        case consumerGroupPrefix = "consumer-group-prefix"
        case predictorRetrainAfter = "predictor-retrain-after"
        case modelId = "model-id"
        case modelFile = "model-file"
        case calibrationCacheDirectory = "calibration-cache-dir"
        case prunerExportDirectory = "pruner-export-dir"
        case prunerDefaultMetric = "pruner-default-metric"
        case agentRatios = "agent-ratios"
        case agentIterations = "agent-iterations"
        case agentSeed = "agent-seed"
        case agentUncertaintyPenalty = "agent-uncertainty-penalty"
        case agentVerifyTopK = "agent-verify-top-k"
        case agentSpotChecks = "agent-spot-checks"
        case agentVerifyTimeout = "agent-verify-timeout-seconds"
        case reconcileSeconds = "reconcile-seconds"
        case evaluatorRepublishSeconds = "evaluator-republish-seconds"
        case outboxRetentionDays = "outbox-retention-days"
        case inboxRetentionDays = "inbox-retention-days"
        case deadLetterRetentionDays = "dead-letter-retention-days"
        case prefixCacheMegabytes = "prefix-cache-mb"

        init?(flag: String) {
            let name = flag.dropFirst(2).split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            self.init(rawValue: name)
        }

        var flag: String { "--\(rawValue)" }
        var environmentName: String {
            "PPF_" + rawValue.uppercased().replacingOccurrences(of: "-", with: "_")
        }
    }

    /// Parses `low..high` (or `low...high`) into a ratio range inside [0, 1), or nil.
    public static func ratioRange(_ text: String) -> ClosedRange<Double>? {
        let separator = text.contains("...") ? "..." : ".."
        let parts = text.components(separatedBy: separator)
        guard parts.count == 2,
              let low = Double(parts[0].trimmingCharacters(in: .whitespaces)),
              let high = Double(parts[1].trimmingCharacters(in: .whitespaces)),
              low.isFinite, high.isFinite, low >= 0, low < high, high < 1 else { return nil }
        return low...high
    }

    mutating func apply(_ key: Key, _ value: String) throws {
        func integer(in range: ClosedRange<Int>) throws -> Int {
            guard let number = Int(value), range.contains(number) else {
                throw SettingsError(setting: key.environmentName, value: value,
                                    reason: "expected an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return number
        }
        /// A retention in days, or nil for `forever`.
        func days() throws -> Double? {
            if value.lowercased() == "forever" { return nil }
            guard let days = Double(value), days > 0, days <= 36_500 else {
                throw SettingsError(setting: key.environmentName, value: value,
                                    reason: "expected a number of days in (0, 36500] or forever")
            }
            return days
        }
        switch key {
        case .instanceId: instanceId = value
        case .kafkaBrokers: kafkaBrokers = value
        case .kafkaSessionTimeout: kafkaSessionTimeoutMilliseconds = try integer(in: 1000...300_000)
        case .kafkaAutoOffsetReset:
            guard let reset = KafkaConfiguration.AutoOffsetReset(rawValue: value) else {
                throw SettingsError(setting: key.environmentName, value: value, reason: "expected earliest or latest")
            }
            kafkaAutoOffsetReset = reset
        case .postgresURL:
            guard value.hasPrefix("postgres://") || value.hasPrefix("postgresql://") else {
                throw SettingsError(setting: key.environmentName, value: "<hidden>",
                                    reason: "expected a postgresql:// URL")
            }
            postgresURL = value
        case .blasThreads: blasThreads = try integer(in: 0...256)
        case .logLevel:
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            guard levels.contains(value.lowercased()) else {
                throw SettingsError(setting: key.environmentName, value: value,
                                    reason: "expected one of \(levels.joined(separator: ", "))")
            }
            logLevel = value.lowercased()
        case .logFormat:
            guard ["text", "json"].contains(value) else {
                throw SettingsError(setting: key.environmentName, value: value, reason: "expected text or json")
            }
            logFormat = value
        case .heartbeatSeconds:
            guard let seconds = Double(value), seconds > 0, seconds <= 3600 else {
                throw SettingsError(setting: key.environmentName, value: value,
                                    reason: "expected seconds in (0, 3600]")
            }
            heartbeatSeconds = seconds
        case .modelDirectory: modelDirectory = value
        case .corpusDirectory: corpusDirectory = value
        case .consumerGroupPrefix: consumerGroupPrefix = value
        case .predictorRetrainAfter: predictorRetrainAfter = try integer(in: 1...1_000_000)
        case .modelId, .modelFile:
            guard !value.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw SettingsError(setting: key.environmentName, value: value, reason: "expected a non-empty name")
            }
            if key == .modelId { modelId = value } else { modelFile = value }
        case .calibrationCacheDirectory:
            guard !value.isEmpty else {
                throw SettingsError(setting: key.environmentName, value: value, reason: "expected a folder")
            }
            calibrationCacheDirectory = value
        case .prunerExportDirectory: prunerExportDirectory = value
        case .prunerDefaultMetric:
            guard !value.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw SettingsError(setting: key.environmentName, value: value, reason: "expected a metric name")
            }
            prunerDefaultMetric = value
        case .agentRatios:
            guard let range = Self.ratioRange(value) else {
                throw SettingsError(setting: key.environmentName, value: value,
                                    reason: "expected low..high with 0 ≤ low < high < 1, e.g. 0.05..0.6")
            }
            agentRatioRange = range
        case .agentIterations: agentIterations = try integer(in: 1...100_000)
        case .agentSeed:
            guard let seed = UInt64(value) else {
                throw SettingsError(setting: key.environmentName, value: value, reason: "expected a non-negative integer")
            }
            agentSeed = seed
        case .agentUncertaintyPenalty:
            if value.lowercased() == "calibrated" {
                agentUncertaintyPenalty = nil
            } else if let kappa = Double(value), kappa >= 0, kappa <= 100 {
                agentUncertaintyPenalty = kappa
            } else {
                throw SettingsError(setting: key.environmentName, value: value,
                                    reason: "expected calibrated or a number in [0, 100]")
            }
        case .agentVerifyTopK: agentVerifyTopK = try integer(in: 1...32)
        case .agentSpotChecks:
            switch value.lowercased() {
            case "true", "1", "yes", "on": agentSpotChecks = true
            case "false", "0", "no", "off": agentSpotChecks = false
            default: throw SettingsError(setting: key.environmentName, value: value, reason: "expected true or false")
            }
        case .agentVerifyTimeout:
            guard let seconds = Double(value), seconds > 0, seconds <= 7 * 86_400 else {
                throw SettingsError(setting: key.environmentName, value: value, reason: "expected seconds in (0, 604800]")
            }
            agentVerifyTimeoutSeconds = seconds
        case .reconcileSeconds:
            guard let seconds = Double(value), seconds >= 0.1, seconds <= 86_400 else {
                throw SettingsError(setting: key.environmentName, value: value, reason: "expected seconds in [0.1, 86400]")
            }
            reconcileSeconds = seconds
        case .evaluatorRepublishSeconds:
            guard let seconds = Double(value), seconds >= 0.1, seconds <= 7 * 86_400 else {
                throw SettingsError(setting: key.environmentName, value: value, reason: "expected seconds in [0.1, 604800]")
            }
            evaluatorRepublishSeconds = seconds
        case .outboxRetentionDays: retention.outboxDays = try days()
        case .inboxRetentionDays: retention.inboxDays = try days()
        case .deadLetterRetentionDays: retention.deadLetterDays = try days()
        case .prefixCacheMegabytes: prefixCacheMegabytes = try integer(in: 0...1_048_576)
        }
    }
}

/// A setting with a value PPF cannot use.
public struct SettingsError: Error, CustomStringConvertible, Equatable {
    /// The environment variable or flag.
    public var setting: String
    /// The offending value (hidden for secrets).
    public var value: String
    /// What was expected.
    public var reason: String

    public var description: String { "invalid setting \(setting)='\(value)': \(reason)" }
}

/// The repository root, found from this source file's location at build time
/// and overridable with `PPF_ROOT` (e.g. in a container image).
public func repositoryRoot() -> String {
    if let root = ProcessInfo.processInfo.environment["PPF_ROOT"], !root.isEmpty { return root }
    // Shared/PPFRuntime/Settings.swift → three levels up.
    return URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}
