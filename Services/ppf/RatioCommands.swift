import ArgumentParser
import Foundation
import PPFContracts
import PPFRuntime
import PPFStore

/// `ppf ratio …`: ask the running system to re-prune.
struct Ratio: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Emit ratio-change events.", subcommands: [Set.self])

    /// `ppf ratio set <r>`: record a ratio-change event and publish it.
    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Emit a ratio-change event: the agent answers with a new policy.",
            discussion: """
                The event is stored in PostgreSQL (ratio_events, audit_log) and published on \
                ppf.ratio-events through the transactional outbox, so it is never lost: if \
                publishing fails here, any running service's relay publishes it.
                """)

        @Argument(help: "Target ratio: the fraction of prunable parameters to remove, 0 ≤ r < 1.")
        var ratio: Double

        @Option(help: "The model (deployment) to prune.")
        var model: String = "smollm2-135m"

        @Option(help: "dynamic: instant agent policy; static: searched and verified.")
        var mode: PruningMode = .dynamic

        @Option(help: "Who asks, for the audit trail (default: $USER).")
        var by: String = ProcessInfo.processInfo.environment["USER"] ?? "ppf-cli"

        func validate() throws {
            guard ratio.isFinite, ratio >= 0, ratio < 1 else {
                throw ValidationError("the ratio must be in [0, 1), got \(ratio)")
            }
        }

        func run() async throws {
            let change = try RatioChange(modelId: model, targetRatio: ratio, mode: mode, requestedBy: by)
            let context = try await ServiceContext.start(serviceName: "ppf", settings: CommandLineSettings.current)
            let id = UUID()
            let envelope = Envelope(correlationId: id, producer: context.producerName, payload: change, messageId: id)
            try await context.pool.withTransaction { connection in
                _ = try await connection.execute("""
                    INSERT INTO ratio_events (id, model_id, target_ratio, mode, requested_by)
                    VALUES (\(id), \(change.modelId), \(change.targetRatio), \(change.mode.rawValue), \(change.requestedBy))
                    """)
                try await AuditLog.record(actor: change.requestedBy, action: "ratio-change", correlationId: id,
                                          details: change, on: connection)
                try await context.enqueue(envelope, topic: Topic.ratioEvents, key: change.modelId, on: connection)
            }
            FaultInjection.crashIfRequested(at: FaultInjection.afterOutboxCommit)
            var published = true
            do {
                published = try await context.makeOutboxRelay().publishPending()
            } catch {
                published = false
                context.logger.warning("publishing now failed (\(error)); a service's relay will publish it")
            }
            await context.shutdown()
            print("ratio event \(id.uuidString.lowercased()): \(model) → r=\(ratio) (\(mode.rawValue))"
                  + (published ? ", published" : ", queued in the outbox; a running service's relay is publishing it"))
        }
    }
}

extension PruningMode: ExpressibleByArgument {}
