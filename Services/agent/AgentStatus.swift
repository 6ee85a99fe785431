import Foundation

// MARK: - AgentStatus

/// What the agent is doing, for heartbeats: the agent version serving each
/// model, what it is busy with, and how many events it answered or rejected.
/// Written by the registry, the handler and static searches; read by the heartbeat task.
final class AgentStatus: @unchecked Sendable {
    // @unchecked: all state is guarded by `lock`.
    private let lock = NSLock()
    private var serving: [String: String] = [:]
    private var activity = "starting"
    private var staticSearches = 0
    private var answered = 0
    private var rejected = 0

    /// Heartbeat fields: `agent.<model>` (version and predictor), `activity`,
    /// `static-searches` (in flight), `answered`, `rejected`.
    var details: [String: String] {
        lock.withLock {
            var fields = ["activity": activity, "static-searches": String(staticSearches),
                          "answered": String(answered), "rejected": String(rejected)]
            for (model, version) in serving { fields["agent.\(model)"] = version }
            return fields
        }
    }

    /// Records the agent version now serving `modelId`.
    func serve(modelId: String, agentVersion: UUID, predictorVersion: UUID) {
        lock.withLock {
            serving[modelId] = "\(agentVersion.uuidString.lowercased()) (predictor \(predictorVersion.uuidString.lowercased()))"
        }
    }

    /// Sets the current activity (training, idle).
    func set(activity: String) { lock.withLock { self.activity = activity } }

    /// Counts a static search starting (+1) or ending (−1).
    func countStaticSearch(_ delta: Int) { lock.withLock { staticSearches += delta } }

    /// Counts an answered or rejected event.
    func countAnswer(rejected wasRejected: Bool) {
        lock.withLock { if wasRejected { rejected += 1 } else { answered += 1 } }
    }
}
