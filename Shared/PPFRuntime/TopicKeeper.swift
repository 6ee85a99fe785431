import Foundation
import Logging
import PPFBus
import PPFContracts

// MARK: - TopicKeeperService

/// Recreates PPF's topics whenever the broker has lost them, so a running
/// process survives a broker restart without restarting itself.
///
/// The local broker keeps topics in memory only (design.md): after it
/// restarts, every topic is gone, consumers wait on an empty assignment and
/// producers (which never create topics) hold their messages. Every
/// ``Settings/heartbeatSeconds`` this service asks the broker which topics
/// exist and creates the missing ones of ``Topic/all`` with their partition
/// counts; consumers then join them at their next metadata refresh
/// (``KafkaConfiguration/metadataRefreshInterval``). Creating is idempotent,
/// so several processes racing to recreate the same topic is harmless.
/// An unreachable broker is not an error here: the next check tries again.
public struct TopicKeeperService: PPFService {
    public let name = "topic-keeper"
    let context: ServiceContext

    /// Keeps `context`'s broker supplied with PPF's topics.
    public init(context: ServiceContext) {
        self.context = context
    }

    public func run() async throws {
        let logger = context.logger
        let admin = try KafkaAdmin.make(configuration: context.kafka, logger: logger)
        let interval = Duration.milliseconds(Int(context.settings.heartbeatSeconds * 1000))
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { break }
            do {
                let created = try await Self.recreateMissingTopics(admin: admin)
                if !created.isEmpty {
                    logger.warning("the broker had lost topics \(created) (restarted?); recreated them")
                }
            } catch {
                // Heartbeats and consumers already say when the broker is unreachable.
                logger.debug("topic check failed: \(error)")
            }
        }
    }

    /// Creates the topics of ``Topic/all`` the broker does not list.
    /// - Returns: the names created, sorted.
    static func recreateMissingTopics(admin: KafkaAdmin) async throws -> [String] {
        let metadata = try await admin.metadata(timeout: .seconds(5))
        let missing = Topic.all.filter { topic in
            guard let known = metadata.topic(topic.name) else { return true }
            return known.error != nil || known.partitions.isEmpty
        }
        guard !missing.isEmpty else { return [] }
        let outcome = try await admin.createTopics(missing.map { TopicSpec(name: $0.name, partitions: $0.partitions) })
        return outcome.filter { $0.value == .created }.keys.sorted()
    }
}

// MARK: - PeriodicReconciliation

/// Runs a service's reconciliation pass every ``Settings/reconcileSeconds``
/// after the one at start, so work whose message was lost (a broker restart
/// forgets every message in flight) is still done while the process keeps
/// running. A pass that fails is logged; the next one tries again.
///
/// Passes are idempotent by construction: each service's pass only does
/// what PostgreSQL says is still owed, under the same unique keys and inbox
/// claims as its consumer, so a pass racing the consumer on the same item
/// wastes at most one computation and never writes twice.
public struct PeriodicReconciliation: PPFService {
    public let name: String
    let interval: Duration
    let logger: Logger
    let pass: @Sendable () async throws -> Void

    /// Runs `pass` every `interval` (the first one after `interval`).
    public init(name: String, interval: Duration, logger: Logger, pass: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.pass = pass
    }

    /// Runs `pass` every ``Settings/reconcileSeconds`` of `context`.
    public init(name: String, context: ServiceContext, pass: @escaping @Sendable () async throws -> Void) {
        self.init(name: name, interval: .milliseconds(Int(context.settings.reconcileSeconds * 1000)),
                  logger: context.logger, pass: pass)
    }

    public func run() async throws {
        var failures = 0
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { break }
            do {
                try await pass()
                if failures > 0 { logger.info("\(name) resumed after \(failures) failed pass(es)") }
                failures = 0
            } catch is CancellationError {
                break
            } catch {
                failures += 1
                if failures == 1 || failures % 10 == 0 {
                    logger.warning("\(name) failed (\(failures) in a row), retrying in \(interval): \(error)")
                }
            }
        }
    }
}
