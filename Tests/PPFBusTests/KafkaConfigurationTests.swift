import Testing
@testable import PPFBus

/// The one translation from `KafkaConfiguration` to librdkafka keys.
@Suite struct KafkaConfigurationTests {
    @Test func defaultsTranslateToDocumentedLibrdkafkaValues() {
        let properties = KafkaConfiguration().librdkafkaProperties(for: .admin)
        #expect(properties["bootstrap.servers"] == "127.0.0.1:19092")
        #expect(properties["client.id"] == "ppf")
        #expect(properties["statistics.interval.ms"] == "0")
        #expect(properties["log_level"] == "4")
        #expect(properties["group.id"] == nil)
        #expect(properties["acks"] == nil)
    }

    @Test func producerWaitsForAllReplicasAndNeverCreatesTopics() {
        var configuration = KafkaConfiguration(bootstrapServers: ["a:1", "b:2"])
        configuration.messageTimeout = .seconds(12)
        configuration.linger = .milliseconds(2)
        let properties = configuration.librdkafkaProperties(for: .producer)
        #expect(properties["bootstrap.servers"] == "a:1,b:2")
        #expect(properties["acks"] == "all")
        #expect(properties["enable.idempotence"] == "false", "a restarted local broker forgets producer ids")
        #expect(properties["allow.auto.create.topics"] == "false")
        #expect(properties["message.timeout.ms"] == "12000")
        #expect(properties["linger.ms"] == "2")
        #expect(properties["enable.auto.commit"] == nil)
        configuration.idempotentProducer = true
        #expect(configuration.librdkafkaProperties(for: .producer)["enable.idempotence"] == "true")
    }

    @Test func everyClientRefreshesTopicMetadataEveryFewSeconds() {
        var configuration = KafkaConfiguration()
        for role in [KafkaConfiguration.ClientRole.producer, .consumer(groupId: "g"), .admin] {
            #expect(configuration.librdkafkaProperties(for: role)["topic.metadata.refresh.interval.ms"] == "5000")
        }
        configuration.metadataRefreshInterval = .milliseconds(1500)
        #expect(configuration.librdkafkaProperties(for: .consumer(groupId: "g"))["topic.metadata.refresh.interval.ms"] == "1500")
    }

    @Test func consumerCommitsManuallyWithAShortSessionTimeout() {
        let properties = KafkaConfiguration().librdkafkaProperties(for: .consumer(groupId: "evaluators"))
        #expect(properties["group.id"] == "evaluators")
        #expect(properties["enable.auto.commit"] == "false")
        #expect(properties["enable.auto.offset.store"] == "false")
        #expect(properties["auto.offset.reset"] == "earliest")
        #expect(properties["session.timeout.ms"] == "6000")
        #expect(properties["heartbeat.interval.ms"] == "1000")
        #expect(properties["max.poll.interval.ms"] == "300000")
        #expect(properties["acks"] == nil)
    }

    @Test func statisticsAndLogLevelAndOffsetResetAreConfigurable() {
        var configuration = KafkaConfiguration()
        configuration.statisticsInterval = .milliseconds(1500)
        configuration.logLevel = .debug
        configuration.autoOffsetReset = .latest
        configuration.sessionTimeout = .milliseconds(2500)
        let properties = configuration.librdkafkaProperties(for: .consumer(groupId: "g"))
        #expect(properties["statistics.interval.ms"] == "1500")
        #expect(properties["log_level"] == "7")
        #expect(properties["auto.offset.reset"] == "latest")
        #expect(properties["session.timeout.ms"] == "2500")
    }

    @Test func extraPropertiesOverrideEverythingElse() {
        var configuration = KafkaConfiguration()
        configuration.extraProperties = ["partition.assignment.strategy": "cooperative-sticky", "enable.auto.commit": "true"]
        let properties = configuration.librdkafkaProperties(for: .consumer(groupId: "g"))
        #expect(properties["partition.assignment.strategy"] == "cooperative-sticky")
        #expect(properties["enable.auto.commit"] == "true")
    }

    @Test func everyTranslatedPropertyIsAcceptedByTheLoadedLibrdkafka() throws {
        // Building a client applies every key with rd_kafka_conf_set; an
        // unknown key or bad value would throw .invalidConfiguration.
        _ = try KafkaAdmin.make(configuration: KafkaConfiguration(), logger: .init(label: "test"))
        var bad = KafkaConfiguration()
        bad.extraProperties = ["no.such.property": "1"]
        let error = #expect(throws: BusError.self) { try KafkaAdmin.make(configuration: bad, logger: .init(label: "test")) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("no.such.property") == true)
    }
}
