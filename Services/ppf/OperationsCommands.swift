import ArgumentParser
import Foundation
import Logging
import PPFBus
import PPFContracts
import PPFRuntime
import PPFStore

// MARK: - ppf status

/// `ppf status`: which services are alive, their versions, and pending work.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the services alive (from their heartbeats), their versions, and pending work.")

    @Option(help: "A service counts as alive if it beat within this many seconds.")
    var aliveWithin: Double = 15

    func run() async throws {
        let settings = CommandLineSettings.current
        let logger = Logger(label: "ppf.status")
        let connection: PGConnection
        do {
            connection = try await PGConnection.connect(try PostgresConfiguration(url: settings.postgresURL), logger: logger)
        } catch {
            throw UserFacingError("PostgreSQL is not reachable (\(error)); is the stack up? (`make up`)")
        }
        let instances = try await connection.query("""
            SELECT service, instance_id, version, in_flight,
                   extract(epoch FROM now() - last_seen)::float8 AS age,
                   extract(epoch FROM now() - started_at)::float8 AS uptime
              FROM service_instances ORDER BY service, instance_id
            """).decode((String, String, String, Int32, Double, Double).self)
        print("services (alive = heartbeat within \(Int(aliveWithin)) s)")
        print(pad("service", 12) + pad("instance", 16) + pad("version", 9) + pad("state", 8) + pad("in flight", 10) + "last beat / up")
        for (service, instance, version, inFlight, age, uptime) in instances {
            let state = age <= aliveWithin ? "alive" : "gone"
            print(pad(service, 12) + pad(instance, 16) + pad(version, 9) + pad(state, 8) + pad("\(inFlight)", 10)
                  + "\(duration(age)) ago / \(duration(uptime))")
        }
        if instances.isEmpty { print("  (no service has ever sent a heartbeat to this database)") }

        let outbox = try await connection.query(
            "SELECT count(*)::int FROM outbox WHERE published_at IS NULL").decode(Int.self).first ?? 0
        let deadLetters = try await connection.query(
            "SELECT count(*)::int FROM dead_letters WHERE created_at > now() - interval '1 hour'").decode(Int.self).first ?? 0
        let ratioEvents = try await connection.query("SELECT count(*)::int FROM ratio_events").decode(Int.self).first ?? 0
        print("\npending work")
        print("  outbox entries not yet published  \(outbox)")
        print("  dead letters in the last hour     \(deadLetters)")
        print("  ratio events recorded             \(ratioEvents)")
        // The backlog each service still owes, from the system of record (a lost
        // message shows up here, and the owning service reconciles it).
        let backlogMigrated = try await connection.query(
            "SELECT to_regclass('ratio_event_outcomes') IS NOT NULL AND to_regclass('plans') IS NOT NULL")
            .decode(Bool.self).first ?? false
        if backlogMigrated {
            let backlog = try await connection.query("""
                SELECT (SELECT count(*) FROM ratio_events e
                         WHERE NOT EXISTS (SELECT 1 FROM ratio_event_outcomes o WHERE o.ratio_event_id = e.id))::int,
                       (SELECT count(*) FROM evaluation_requests r
                         WHERE NOT EXISTS (SELECT 1 FROM measurements m WHERE m.request_id = r.id))::int,
                       (SELECT count(*) FROM ratio_event_outcomes o
                         WHERE o.status = 'answered' AND NOT EXISTS (SELECT 1 FROM plans p WHERE p.ratio_event_id = o.ratio_event_id))::int
                """).decode((Int, Int, Int).self).first ?? (0, 0, 0)
            print("  ratio events awaiting the agent   \(backlog.0)")
            print("  evaluation requests unmeasured    \(backlog.1)")
            print("  answered policies without a plan  \(backlog.2)")
        }

        // The serving tables come with migration 5; a database no service of this build has started on lacks them.
        let migrated = try await connection.query("SELECT to_regclass('model_versions') IS NOT NULL").decode(Bool.self).first ?? false
        guard migrated else {
            print("\nserving: no plans or model versions yet (start a service of this build to migrate the database)")
            return try await printBroker(settings: settings, logger: logger)
        }
        let plans = try await connection.query("SELECT count(*)::int FROM plans").decode(Int.self).first ?? 0
        let serving = try await connection.query("""
            SELECT model_id, instance_id, version, swap_number, extract(epoch FROM now() - served_from)::float8
              FROM model_versions WHERE served_until IS NULL ORDER BY model_id, instance_id
            """).decode((String, String, String, Int32, Double).self)
        print("\nserving (\(plans) plan\(plans == 1 ? "" : "s") stored)")
        for (model, instance, version, swaps, age) in serving {
            print("  \(pad(model, 16))\(pad(instance, 16))\(pad(version, 38))swap \(swaps), for \(duration(age))")
        }
        if serving.isEmpty { print("  (no model-host has served yet)") }
        try await printBroker(settings: settings, logger: logger)
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
