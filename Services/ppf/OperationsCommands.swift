import ArgumentParser
import Foundation
import Logging
import PPFBus
import PPFContracts
import PPFRuntime
import PPFWorkflows
import PPFStore
import PPFTensor

// MARK: - ppf status

/// `ppf status`: which services are alive, their versions, and pending work.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the services alive (from their heartbeats), their versions, and pending work.")

    @Option(help: "A service counts as alive if it beat within this many seconds.")
    var aliveWithin: Double = 15

    @Option(help: "A container healthcheck: exit 0 when an instance of this service on this host beat within --alive-within seconds, else 1; prints one line.")
    var healthy: String?

    func run() async throws {
        let settings = CommandLineSettings.current
        let logger = Logger(label: "ppf.status")
        let connection: PGConnection
        do {
            connection = try await PGConnection.connect(try PostgresConfiguration(url: settings.postgresURL), logger: logger)
        } catch {
            throw UserFacingError("PostgreSQL is not reachable (\(error)); is the stack up? (`make up`)")
        }
        if let service = healthy { return try await checkHealth(of: service, on: connection) }
        guard try await SystemStatusRepository.isMigrated(on: connection) else {
            print("the database is not migrated by this build yet: start any service of this build (`make up`) to migrate it")
            return try await printBroker(settings: settings, logger: logger)
        }
        let status = try await SystemStatusRepository.current(on: connection)
        print("services (alive = heartbeat within \(Int(aliveWithin)) s)")
        print(pad("service", 12) + pad("instance", 16) + pad("version", 9) + pad("state", 8) + pad("in flight", 10) + "last beat / up")
        for instance in status.instances {
            let state = instance.secondsSinceHeartbeat <= aliveWithin ? "alive" : "gone"
            print(pad(instance.service, 12) + pad(instance.instanceId, 16) + pad(instance.version, 9) + pad(state, 8)
                  + pad("\(instance.inFlight)", 10)
                  + "\(duration(instance.secondsSinceHeartbeat)) ago / \(duration(instance.uptimeSeconds))")
        }
        if status.instances.isEmpty { print("  (no service has ever sent a heartbeat to this database)") }
        // Which OpenBLAS kernel each live service runs: a `Prescott` here means
        // the library did not recognise the CPU and every timing is suspect.
        let live = status.instances.filter { $0.secondsSinceHeartbeat <= aliveWithin && !$0.blas.isEmpty }
        for (blas, instances) in Dictionary(grouping: live, by: \.blas).sorted(by: { $0.key < $1.key }) {
            print("  BLAS \(blas): \(instances.map(\.service).joined(separator: ", "))")
        }
        print("  this machine: \(Machine.description)")

        print("\npending work")
        print("  outbox entries not yet published  \(status.unpublishedOutboxEntries)")
        print("  dead letters in the last hour     \(status.deadLettersLastHour)")
        print("  ratio events recorded             \(status.ratioEvents)")
        print("  ratio events awaiting the agent   \(status.backlog.unansweredRatioEvents)")
        print("  evaluation requests unmeasured    \(status.backlog.unmeasuredRequests)")
        print("  answered policies without a plan  \(status.backlog.answersWithoutPlan)")

        print("\nserving (\(status.plans) plan\(status.plans == 1 ? "" : "s") stored)")
        for served in status.serving {
            print("  \(pad(served.modelId, 16))\(pad(served.instanceId, 16))\(pad(served.version, 38))"
                  + "swap \(served.swapNumber), for \(duration(served.servedSeconds))")
        }
        if status.serving.isEmpty { print("  (no model-host has served yet)") }
        try await printBroker(settings: settings, logger: logger)
    }

    /// Exits 1 unless an instance of `service` on this host (instance ids
    /// are `<host>-<pid>`, Settings) beat within ``aliveWithin`` seconds.
    func checkHealth(of service: String, on connection: PGConnection) async throws {
        guard try await SystemStatusRepository.isMigrated(on: connection) else {
            print("unhealthy: the database is not migrated yet")
            throw ExitCode(1)
        }
        let host = ProcessInfo.processInfo.hostName + "-"
        let mine = try await SystemStatusRepository.current(on: connection).instances
            .filter { $0.service == service && $0.instanceId.hasPrefix(host) }
        guard let freshest = mine.min(by: { $0.secondsSinceHeartbeat < $1.secondsSinceHeartbeat }),
              freshest.secondsSinceHeartbeat <= aliveWithin else {
            print("unhealthy: no \(service) instance on \(ProcessInfo.processInfo.hostName) beat within \(Int(aliveWithin)) s")
            throw ExitCode(1)
        }
        print("healthy: \(service) \(freshest.instanceId) beat \(Int(freshest.secondsSinceHeartbeat)) s ago")
    }

    /// Whether the broker answers, and how many PPF topics it has.
    func printBroker(settings: Settings, logger: Logger) async throws {
        var kafka = KafkaConfiguration(bootstrapServers: settings.kafkaBrokers.split(separator: ",").map(String.init))
        kafka.logLevel = .error
        do {
            let metadata = try await KafkaAdmin.make(configuration: kafka, logger: logger).metadata(timeout: .seconds(3))
            let ours = metadata.topics.filter { $0.name.hasPrefix("ppf.") }
            print("\nbroker \(settings.kafkaBrokers): \(metadata.brokers.count) broker(s), \(ours.count) PPF topics")
        } catch {
            print("\nbroker \(settings.kafkaBrokers): not reachable (\(error))")
        }
    }

    func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    func duration(_ seconds: Double) -> String {
        if seconds < 120 { return "\(Int(seconds)) s" }
        if seconds < 7200 { return "\(Int(seconds / 60)) min" }
        return String(format: "%.1f h", seconds / 3600)
    }
}

// MARK: - ppf watch

/// `ppf watch`: follow PPF topics live.
struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow PPF topics live, one readable line per message (--json for machines).",
        discussion: "Stop with Ctrl-C. Each run reads as its own consumer group, so it never takes work from a service.")

    /// The topic groups people ask for.
    enum Selection: String, ExpressibleByArgument, CaseIterable {
        case policies, measurements, ratios = "ratio-events", predictors, agents, search = "search-progress", plans, status
        case inference, modelHosts = "model-hosts", deadLetters = "dead-letters", all

        var topics: [String] {
            switch self {
            case .policies: [Topic.prunedPolicies, Topic.ratioRejections]
            case .measurements: [Topic.measurements]
            case .ratios: [Topic.ratioEvents]
            case .predictors: [Topic.predictorVersions]
            case .agents: [Topic.agentVersions]
            case .search: [Topic.searchProgress]
            case .plans: [Topic.plans]
            case .status: [Topic.status]
            case .inference: [Topic.inferenceRequests, Topic.inferenceReplies]
            case .modelHosts: [Topic.modelHostStatus]
            case .deadLetters: [Topic.deadLetters]
            case .all: Topic.all.map(\.name)
            }
        }
    }

    @Argument(help: "What to follow: \(Selection.allCases.map(\.rawValue).joined(separator: ", ")).")
    var selection: [Selection] = [.all]

    @Flag(help: "Start from the oldest retained message instead of new ones.")
    var fromBeginning = false

    @Flag(help: "Print each message's envelope as one JSON line.")
    var json = false

    @Option(help: "Stop after this many messages (default: run until Ctrl-C).")
    var limit: Int?

    func run() async throws {
        let settings = CommandLineSettings.current
        var kafka = KafkaConfiguration(bootstrapServers: settings.kafkaBrokers.split(separator: ",").map(String.init))
        kafka.autoOffsetReset = fromBeginning ? .earliest : .latest
        kafka.sessionTimeout = .milliseconds(settings.kafkaSessionTimeoutMilliseconds)
        kafka.logLevel = .error
        let topics = Array(Set(selection.flatMap(\.topics))).sorted()
        let consumer = try KafkaConsumer.make(configuration: kafka, groupId: "ppf-watch-\(UUID().uuidString.prefix(8))",
                                              topics: topics, logger: Logger(label: "ppf.watch"))
        if !json { FileHandle.standardError.write(Data("watching \(topics.joined(separator: ", ")) (Ctrl-C to stop)\n".utf8)) }
        var seen = 0
        for try await message in consumer.messages {
            print(json ? String(decoding: message.value, as: UTF8.self) : Self.describe(message))
            seen += 1
            if let limit, seen >= limit { break }
        }
        await consumer.close()
    }

    /// `time topic type key correlation payload…` for people.
    static func describe(_ message: ConsumedMessage) -> String {
        let decoder = MessageCoding.decoder()
        guard let header = try? decoder.decode(EnvelopeHeader.self, from: Data(message.value)) else {
            return "\(message.topic)@\(message.partition):\(message.offset) (not an envelope) \(String(decoding: message.value.prefix(160), as: UTF8.self))"
        }
        var payload = ""
        if let object = try? JSONSerialization.jsonObject(with: Data(message.value)) as? [String: Any],
           let body = object["payload"],
           let data = try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes]) {
            payload = String(decoding: data, as: UTF8.self)
            if payload.count > 240 { payload = String(payload.prefix(240)) + "…" }
        }
        let time = ISO8601DateFormatter().string(from: header.time)
        return "\(time) \(message.topic) \(header.type) v\(header.schemaVersion) key=\(message.keyString ?? "-") "
            + "corr=\(header.correlationId.uuidString.lowercased().prefix(8)) from=\(header.producer) \(payload)"
    }
}
