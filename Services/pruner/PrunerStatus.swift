import Foundation

// MARK: - PrunerStatus

/// What this pruner is doing, for heartbeats: the model it prunes, the
/// policy in hand, and how many plans it stored. Written by the planner,
/// read by the heartbeat task.
final class PrunerStatus: @unchecked Sendable {
    // @unchecked: all state is guarded by `lock`.
    private let lock = NSLock()
    private var modelId = ""
    private var activity = "starting"
    private var planned = 0
    private var lastPlan: UUID?

    /// Heartbeat fields: `model`, `activity`, `planned` and `lastPlan` (once there is one).
    var details: [String: String] {
        lock.withLock {
            var fields = ["model": modelId, "activity": activity, "planned": String(planned)]
            if let lastPlan { fields["lastPlan"] = lastPlan.uuidString.lowercased() }
            return fields
        }
    }

    /// Names the pruned model.
    func serve(modelId: String) { lock.withLock { self.modelId = modelId } }

    /// Sets the current activity.
    func set(activity: String) { lock.withLock { self.activity = activity } }

    /// Counts one stored plan.
    func countPlan(_ id: UUID) {
        lock.withLock {
            planned += 1
            lastPlan = id
        }
    }
}
