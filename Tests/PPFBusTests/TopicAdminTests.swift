import Testing
import PPFBus

/// Topic creation and metadata against the real broker.
@Suite(.timeLimit(.minutes(1)))
struct TopicAdminTests {
    @Test func createdTopicHasTheRequestedPartitionsAndRecreatingItSucceeds() async throws {
        let admin = try await Broker.admin()
        let name = Broker.uniqueTopic("admin")
        let first = try await admin.createTopics([TopicSpec(name: name, partitions: 3)])
        #expect(first[name] == .created)

        try await waitUntil("the topic appears in metadata", timeout: .seconds(10)) {
            try await admin.metadata().topic(name)?.partitions.count == 3
        }
        #expect(try await admin.listTopics().contains(name))

        let again = try await admin.createTopics([TopicSpec(name: name, partitions: 3)])
        #expect(again[name] == .alreadyExisted)
        #expect(try await admin.metadata().topic(name)?.partitions.map(\.id) == [0, 1, 2])
    }

    @Test func metadataNamesTheBroker() async throws {
        let metadata = try await Broker.admin().metadata()
        #expect(!metadata.brokers.isEmpty)
        let advertised = metadata.brokers.map { "\($0.host):\($0.port)" }
        #expect(advertised.contains { Broker.servers.contains($0) }, "brokers: \(advertised)")
    }

    @Test func unreachableBrokerIsReportedAsSuch() async throws {
        var configuration = Broker.configuration
        configuration.bootstrapServers = ["127.0.0.1:1"]
        var quiet = Broker.logger
        quiet.logLevel = .critical  // connection-refused lines are the point here
        let admin = try KafkaAdmin.make(configuration: configuration, logger: quiet)
        let error = await #expect(throws: BusError.self) { try await admin.metadata(timeout: .seconds(1)) }
        #expect(error?.code == .brokerUnreachable)
        #expect(error?.isRetriable == true)
    }
}
