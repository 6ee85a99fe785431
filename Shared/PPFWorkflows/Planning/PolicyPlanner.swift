import Foundation
import Logging
import PPFContracts
import PPFPruning
import PPFRuntime
import PPFStore

// MARK: - PlanOrder

/// One policy to plan, whether it arrived as a ``PolicyPublished`` or was
/// found unplanned in PostgreSQL at start-up.
public struct PlanOrder: Sendable {
    public let ratioEventId: UUID
    public let policyId: UUID
    public let policy: PruningPolicy
    public let metric: String
    public let targetRatio: Double?
    /// The achieved ratio the policy's author announced, to cross-check ours.
    public let announcedRatio: Double?
    /// Where it came from, for logs.
    public let origin: String
}

// MARK: - PolicyPlanner

/// Turns published policies into plans, exactly once per ratio-change event.
///
/// Exactly once, across redeliveries, re-published policies and pruner
/// instances: `plans.ratio_event_id` is unique, a planned event is skipped
/// before any work, and the row, its ``PlanPublished`` (outbox) and the
/// policy's achieved ratio are written in one transaction. Of two pruners
/// racing on one event, the loser's insert changes nothing and it announces
/// nothing (its export, if any, is deleted).
public struct PolicyPlanner: Sendable {
    public let context: ServiceContext
    public let engine: BaseModelEngine
    public let status: ServiceStatus

    /// A planner for the model `context`'s settings name, planning with `engine`.
    public init(context: ServiceContext, engine: BaseModelEngine, status: ServiceStatus) {
        self.context = context
        self.engine = engine
        self.status = status
    }

    private var logger: Logger { context.logger }
    private var modelId: String { context.settings.modelId }

    // MARK: - Consumed policies

    /// Validates and plans one announcement.
    /// - Throws: ``EnvelopeRejection`` for a policy this pruner can never plan
    ///   (dead-lettered with the reason); other errors are retried.
    public func handle(_ envelope: Envelope<PolicyPublished>) async throws {
        let published = envelope.payload
        try published.validate()
        guard published.modelId == modelId else {
            throw EnvelopeRejection.invalidPayload("this pruner prunes model '\(modelId)', not '\(published.modelId)'")
        }
        try await plan(PlanOrder(
            ratioEventId: published.ratioEventId, policyId: published.policyId, policy: published.policy,
            metric: published.metric, targetRatio: published.targetRatio, announcedRatio: published.achievedRatio,
            origin: "message \(envelope.messageId.uuidString.lowercased())"))
    }

    // MARK: - Reconciliation

    /// Plans every policy published for this model whose ratio event has no
    /// plan (design.md: the local broker forgets in-flight messages, so
    /// PostgreSQL, not the topic, says what is owed). A policy that cannot be
    /// planned is logged and left (it has been, or will be, dead-lettered when
    /// its message arrives); one that fails for the environment's sake (a
    /// missing corpus, say) is logged too and tried again at the next pass,
    /// so one bad row never keeps the pruner from consuming.
    /// - Parameter seconds: nil at start (everything owed, and say so when
    ///   nothing is); in the periodic passes, only policies at least this old
    ///   (younger ones are left to the consumer), silently when nothing is owed.
    public func reconcile(olderThan seconds: Double? = nil) async throws {
        let owed = try await context.pool.withConnection {
            try await PlanRepository.unplanned(modelId: modelId, olderThan: seconds ?? 0, on: $0)
        }
        guard !owed.isEmpty else {
            if seconds == nil { logger.info("reconciled: every published policy of '\(modelId)' has a plan") }
            return
        }
        logger.info("reconciling \(owed.count) published polic\(owed.count == 1 ? "y" : "ies") of '\(modelId)' without a plan")
        for unplanned in owed {
            let order = PlanOrder(
                ratioEventId: unplanned.ratioEventId, policyId: unplanned.policyId, policy: unplanned.policy,
                metric: unplanned.metric ?? context.settings.prunerDefaultMetric, targetRatio: unplanned.targetRatio,
                announcedRatio: nil,
                origin: unplanned.metric == nil ? "reconciliation (policy row; default metric)" : "reconciliation (outbox)")
            do {
                try await plan(order)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                logger.error("cannot plan policy \(order.policyId.uuidString.lowercased()) of ratio event \(order.ratioEventId.uuidString.lowercased()): \(error)")
            }
        }
    }

    // MARK: - Planning

    /// Plans `order` unless its event is planned already, and stores the plan.
    public func plan(_ order: PlanOrder) async throws {
        let event = order.ratioEventId.uuidString.lowercased()
        let (existing, row) = try await context.pool.withConnection { connection in
            (try await PlanRepository.find(ratioEventId: order.ratioEventId, on: connection),
             try await PolicyRepository.find(id: order.policyId, on: connection))
        }
        if let existing {
            logger.info("skipping ratio event \(event) (\(order.origin)): it is already planned as \(existing.id.uuidString.lowercased())")
            return
        }
        let metric = try check(order, row: row)

        status.set(activity: "planning ratio event \(event)")
        defer { status.set(activity: "idle") }
        let started = Date()
        let plan = try await engine.plan(order.policy, metric: metric)
        if let announced = order.announcedRatio, abs(announced - plan.achievedRatio) > 1e-6 {
            logger.warning("ratio event \(event): the policy was announced at ratio \(announced) but its plan achieves \(plan.achievedRatio); the plan's is exact")
        }
        let planId = UUID()
        let exportPath = await export(plan, metric: metric, planId: planId)
        let seconds = Date().timeIntervalSince(started)

        let body: String
        do {
            body = String(decoding: try MessageCoding.encoder().encode(plan), as: UTF8.self)
        } catch {
            throw EnvelopeRejection.invalidPayload("the plan cannot be encoded as JSON: \(error)")
        }
        let record = PlanRecord(
            id: planId, ratioEventId: order.ratioEventId, policyId: order.policyId, modelId: modelId, metric: metric.rawValue,
            plan: body, keptParameters: plan.prunableParametersAfter, totalParameters: plan.prunableParametersBefore,
            achievedRatio: plan.achievedRatio, targetRatio: order.targetRatio, exportPath: exportPath,
            prunerId: context.settings.instanceId, seconds: seconds)
        let announcement = Envelope(correlationId: order.ratioEventId, producer: context.producerName,
                                    payload: try PlanPublished(record: record, plan: plan))
        let context = context
        let stored = try await context.pool.withTransaction { connection -> Bool in
            guard try await PlanRepository.insert(record, on: connection) else { return false }
            try await context.enqueue(announcement, topic: Topic.plans, key: record.modelId, on: connection)
            try await PolicyRepository.setAchievedRatio(plan.achievedRatio, policyId: order.policyId, on: connection)
            return true
        }
        guard stored else {
            logger.info("ratio event \(event) was planned by another pruner meanwhile; this plan is discarded")
            if let exportPath { try? FileManager.default.removeItem(atPath: exportPath) }
            return
        }
        FaultInjection.crashIfRequested(at: FaultInjection.prunerAfterPlanCommit)
        status.count("planned")
        status.set("lastPlan", to: planId.uuidString.lowercased())
        logger.info("planned ratio event \(event) (\(order.origin)) as \(planId.uuidString.lowercased()): \(metric.rawValue), achieved ratio \(String(format: "%.4f", plan.achievedRatio)) (\(plan.prunableParametersAfter) of \(plan.prunableParametersBefore) prunable parameters kept), \(String(format: "%.3f", seconds)) s\(exportPath.map { ", exported to \($0)" } ?? "")")
    }

    /// What a decoder cannot check: a known metric, the model's block count,
    /// and a stored policy row that is this policy of this model.
    private func check(_ order: PlanOrder, row: PolicyRecord?) throws(EnvelopeRejection) -> MetricKind {
        guard let metric = MetricKind(rawValue: order.metric) else {
            throw .invalidPayload("unknown importance metric '\(order.metric)'; use one of \(MetricKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard order.policy.layers.count == engine.blockCount else {
            throw .invalidPayload("the policy has \(order.policy.layers.count) layers but '\(modelId)' has \(engine.blockCount) blocks")
        }
        let policyId = order.policyId.uuidString.lowercased()
        guard let row else {
            throw .invalidPayload("no policies row for policy \(policyId); whoever publishes a policy must store it with the message (outbox)")
        }
        guard row.modelId == modelId, row.policy.canonicalKey() == order.policy.canonicalKey() else {
            throw .invalidPayload("policy \(policyId) is stored for '\(row.modelId)' with other ratios than the message carries")
        }
        return metric
    }

    /// Exports the pruned model when `PPF_PRUNER_EXPORT_DIR` is set; a failed
    /// export is logged and the plan is stored without a path (the plan is
    /// valid; the file is a convenience).
    private func export(_ plan: PruningPlan, metric: MetricKind, planId: UUID) async -> String? {
        let folder = context.settings.prunerExportDirectory
        guard !folder.isEmpty else { return nil }
        let url = URL(fileURLWithPath: folder).appendingPathComponent("\(modelId)-\(planId.uuidString.lowercased()).gguf")
        do {
            let summary = try await engine.export(plan, metric: metric, planId: planId, to: url)
            logger.info("exported plan \(planId.uuidString.lowercased()) to \(url.path) (\(summary.architecture.rawValue), \(summary.blockCount) blocks, \(summary.parameterCount) parameters)")
            return url.path
        } catch {
            logger.warning("plan \(planId.uuidString.lowercased()) is stored without an export: \(error)")
            return nil
        }
    }
}

// MARK: - PlanPublished from a plan

extension PlanPublished {
    /// The announcement of a stored plan: its counts per block.
    public init(record: PlanRecord, plan: PruningPlan) throws(EnvelopeRejection) {
        try self.init(
            planId: record.id, ratioEventId: record.ratioEventId, policyId: record.policyId, modelId: record.modelId,
            metric: record.metric, targetRatio: record.targetRatio, achievedRatio: record.achievedRatio,
            keptParameters: record.keptParameters, totalParameters: record.totalParameters,
            layers: plan.layers.map {
                PlannedLayer(dropped: $0.dropped, queryHeads: $0.keptHeads.count, keyValueGroups: $0.keptGroups.count,
                             channels: $0.keptChannels.count)
            },
            exportPath: record.exportPath)
    }
}
