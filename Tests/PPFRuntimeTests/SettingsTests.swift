import Foundation
import PPFStore
import Testing
@testable import PPFRuntime

@Suite struct SettingsTests {
    @Test func defaultsPointAtTheLocalStack() throws {
        let (settings, rest) = try Settings.load(serviceName: "agent", environment: [:], arguments: [])
        #expect(settings.kafkaBrokers == "127.0.0.1:19092")
        // With the password `make up` generated, when this checkout has a local stack.
        #expect(settings.postgresURL.hasPrefix("postgresql://ppf") && settings.postgresURL.hasSuffix("@127.0.0.1:55432/ppf"))
        #expect(settings.kafkaSessionTimeoutMilliseconds == 6000)
        #expect(settings.kafkaAutoOffsetReset == .earliest)
        #expect(rest.isEmpty)
    }

    @Test func theDefaultURLCarriesTheLocalStacksPasswordWhenThereIsOne() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-settings-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(Settings.localStackURL(root: root.path) == "postgresql://ppf@127.0.0.1:55432/ppf", "no stack, no password")
        let folder = root.appendingPathComponent(".run/postgres")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("0123456789abcdef0123456789abcdef\n".utf8).write(to: folder.appendingPathComponent("ppf.password"))
        #expect(Settings.localStackURL(root: root.path) == "postgresql://ppf:0123456789abcdef0123456789abcdef@127.0.0.1:55432/ppf")
        try Data("not/hex@all".utf8).write(to: folder.appendingPathComponent("ppf.password"))
        #expect(Settings.localStackURL(root: root.path) == "postgresql://ppf@127.0.0.1:55432/ppf", "a file that is not ours is not put into a URL")
    }

    @Test func environmentOverridesDefaultsAndFlagsOverrideEnvironment() throws {
        let environment = ["PPF_KAFKA_BROKERS": "10.0.0.1:9092", "PPF_BLAS_THREADS": "1",
                           "PPF_LOG_LEVEL": "debug"]
        let (settings, rest) = try Settings.load(
            serviceName: "evaluator", environment: environment,
            arguments: ["--blas-threads", "2", "--kafka-session-timeout-ms=3000", "positional", "--other", "x"])
        #expect(settings.kafkaBrokers == "10.0.0.1:9092")
        #expect(settings.blasThreads == 2)
        #expect(settings.kafkaSessionTimeoutMilliseconds == 3000)
        #expect(settings.logLevel == "debug")
        #expect(rest == ["positional", "--other", "x"])
    }

    @Test func malformedValuesAreRejectedWithTheSettingName() {
        #expect(throws: SettingsError.self) {
            try Settings.load(serviceName: "agent", environment: ["PPF_BLAS_THREADS": "many"], arguments: [])
        }
        do {
            _ = try Settings.load(serviceName: "agent", environment: [:], arguments: ["--log-level", "loud"])
            Issue.record("expected an error")
        } catch let error as SettingsError {
            #expect(error.description.contains("PPF_LOG_LEVEL"))
            #expect(error.description.contains("loud"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func postgresURLIsNeverEchoedInErrors() {
        do {
            _ = try Settings.load(serviceName: "agent", environment: ["PPF_POSTGRES_URL": "mysql://root:secret@x"],
                                  arguments: [])
            Issue.record("expected an error")
        } catch {
            #expect(!"\(error)".contains("secret"))
        }
    }

    @Test func aFlagWithoutAValueIsAnError() {
        #expect(throws: SettingsError.self) {
            try Settings.load(serviceName: "agent", environment: [:], arguments: ["--kafka-brokers"])
        }
    }

    @Test func thePrunerExportFolderDefaultMetricAndCalibrationCacheAreSettings() throws {
        let defaults = try Settings.load(serviceName: "pruner", environment: [:], arguments: []).settings
        #expect(defaults.prunerExportDirectory.isEmpty, "no export unless asked")
        #expect(defaults.prunerDefaultMetric == "wanda-sp")
        #expect(defaults.calibrationCacheDirectory.hasSuffix("/.deps/cache/calibration"))
        let set = try Settings.load(serviceName: "pruner",
                                    environment: ["PPF_PRUNER_EXPORT_DIR": "/tmp/exports", "PPF_PRUNER_DEFAULT_METRIC": "flap"],
                                    arguments: ["--calibration-cache-dir", "/tmp/calibration"]).settings
        #expect(set.prunerExportDirectory == "/tmp/exports")
        #expect(set.prunerDefaultMetric == "flap")
        #expect(set.calibrationCacheDirectory == "/tmp/calibration")
        #expect(throws: SettingsError.self) {
            try Settings.load(serviceName: "pruner", environment: ["PPF_PRUNER_DEFAULT_METRIC": " "], arguments: [])
        }
    }

    @Test func thePredictorRetrainThresholdAndGroupPrefixAreSettings() throws {
        let defaults = try Settings.load(serviceName: "predictor", environment: [:], arguments: []).settings
        #expect(defaults.predictorRetrainAfter == 32)
        #expect(defaults.consumerGroupPrefix.isEmpty)
        let set = try Settings.load(serviceName: "predictor",
                                    environment: ["PPF_PREDICTOR_RETRAIN_AFTER": "8", "PPF_CONSUMER_GROUP_PREFIX": "ci-"],
                                    arguments: ["--predictor-retrain-after", "16"]).settings
        #expect(set.predictorRetrainAfter == 16)
        #expect(set.consumerGroupPrefix == "ci-")
        #expect(throws: SettingsError.self) {
            try Settings.load(serviceName: "predictor", environment: ["PPF_PREDICTOR_RETRAIN_AFTER": "0"], arguments: [])
        }
    }

    @Test func theBaseModelIdAndFileAreSettings() throws {
        let defaults = try Settings.load(serviceName: "evaluator", environment: [:], arguments: []).settings
        #expect(defaults.modelId == "smollm2-135m")
        #expect(defaults.modelFile == "SmolLM2-135M-Instruct.Q4_1.gguf")
        let set = try Settings.load(serviceName: "evaluator",
                                    environment: ["PPF_MODEL_ID": "tiny", "PPF_MODEL_FILE": "env.gguf"],
                                    arguments: ["--model-file", "flag.gguf"]).settings
        #expect(set.modelId == "tiny")
        #expect(set.modelFile == "flag.gguf")
        #expect(throws: SettingsError.self) {
            try Settings.load(serviceName: "evaluator", environment: ["PPF_MODEL_ID": " "], arguments: [])
        }
    }

    @Test func theAgentsRatioRangeTrainingAndVerificationAreSettings() throws {
        let defaults = try Settings.load(serviceName: "agent", environment: [:], arguments: []).settings
        #expect(defaults.agentRatioRange == 0.05...0.6)
        #expect(defaults.agentIterations == 300 && defaults.agentSeed == 1)
        #expect(defaults.agentVerifyTopK == 3 && defaults.agentVerifyTimeoutSeconds == 3600)
        let set = try Settings.load(serviceName: "agent",
                                    environment: ["PPF_AGENT_RATIOS": "0.1..0.5", "PPF_AGENT_ITERATIONS": "40"],
                                    arguments: ["--agent-verify-top-k", "2", "--agent-seed=9",
                                                "--agent-verify-timeout-seconds", "30"]).settings
        #expect(set.agentRatioRange == 0.1...0.5)
        #expect(set.agentIterations == 40 && set.agentSeed == 9)
        #expect(set.agentVerifyTopK == 2 && set.agentVerifyTimeoutSeconds == 30)
        for bad in ["0.6..0.1", "0.1", "0.2..1", "-0.1..0.3", "a..b"] {
            #expect(throws: SettingsError.self, "\(bad)") {
                try Settings.load(serviceName: "agent", environment: ["PPF_AGENT_RATIOS": bad], arguments: [])
            }
        }
        #expect(Settings.ratioRange("0.05...0.6") == 0.05...0.6)
    }

    @Test func retentionIsDaysPerTableOrForever() throws {
        #expect(try Settings.load(serviceName: "agent", environment: [:], arguments: []).settings.retention == .standard)
        let set = try Settings.load(serviceName: "agent",
                                    environment: ["PPF_OUTBOX_RETENTION_DAYS": "1.5", "PPF_DEAD_LETTER_RETENTION_DAYS": "forever"],
                                    arguments: ["--inbox-retention-days", "60"]).settings
        #expect(set.retention == RetentionPolicy(outboxDays: 1.5, inboxDays: 60, deadLetterDays: nil))
        for bad in ["0", "-3", "never", "40000"] {
            #expect(throws: SettingsError.self, "\(bad)") {
                try Settings.load(serviceName: "agent", environment: ["PPF_INBOX_RETENTION_DAYS": bad], arguments: [])
            }
        }
    }

    @Test func thePrefixCacheBudgetIsMebibytesAndZeroTurnsItOff() throws {
        #expect(try Settings.load(serviceName: "evaluator", environment: [:], arguments: []).settings.prefixCacheMegabytes == 512)
        #expect(try Settings.load(serviceName: "evaluator", environment: ["PPF_PREFIX_CACHE_MB": "0"],
                                  arguments: []).settings.prefixCacheMegabytes == 0)
        #expect(try Settings.load(serviceName: "evaluator", environment: ["PPF_PREFIX_CACHE_MB": "64"],
                                  arguments: ["--prefix-cache-mb", "2048"]).settings.prefixCacheMegabytes == 2048)
        for bad in ["-1", "lots", "2000000"] {
            #expect(throws: SettingsError.self, "\(bad)") {
                try Settings.load(serviceName: "evaluator", environment: ["PPF_PREFIX_CACHE_MB": bad], arguments: [])
            }
        }
    }

    @Test func theAgentsUncertaintyPenaltyIsCalibratedUnlessANumberIsSet() throws {
        #expect(try Settings.load(serviceName: "agent", environment: [:], arguments: []).settings.agentUncertaintyPenalty == nil)
        let fixed = try Settings.load(serviceName: "agent", environment: ["PPF_AGENT_UNCERTAINTY_PENALTY": "2.5"],
                                      arguments: []).settings
        #expect(fixed.agentUncertaintyPenalty == 2.5)
        let calibrated = try Settings.load(serviceName: "agent", environment: ["PPF_AGENT_UNCERTAINTY_PENALTY": "2"],
                                           arguments: ["--agent-uncertainty-penalty", "Calibrated"]).settings
        #expect(calibrated.agentUncertaintyPenalty == nil)
        for bad in ["-1", "101", "nan", "auto"] {
            #expect(throws: SettingsError.self, "\(bad)") {
                try Settings.load(serviceName: "agent", environment: ["PPF_AGENT_UNCERTAINTY_PENALTY": bad], arguments: [])
            }
        }
    }

    @Test func whereANewConsumerGroupStartsIsASettingThatReachesTheKafkaConfiguration() throws {
        let set = try Settings.load(serviceName: "evaluator", environment: ["PPF_KAFKA_AUTO_OFFSET_RESET": "latest"],
                                    arguments: []).settings
        #expect(set.kafkaAutoOffsetReset == .latest)
        #expect(ServiceContext.kafkaConfiguration(set).librdkafkaProperties(for: .consumer(groupId: "g"))["auto.offset.reset"] == "latest")
        do {
            _ = try Settings.load(serviceName: "evaluator", environment: ["PPF_KAFKA_AUTO_OFFSET_RESET": "newest"], arguments: [])
            Issue.record("expected an error")
        } catch let error as SettingsError {
            #expect(error.description.contains("PPF_KAFKA_AUTO_OFFSET_RESET"))
        }
    }
}
