import Foundation

// MARK: - ModelHostStatusBoard

/// What this model-host is doing, for heartbeats: the deployment, the
/// version serving, swaps since start, requests answered and the current
/// activity. Written by the swapper and the responder, read by heartbeats.
final class ModelHostStatusBoard: @unchecked Sendable {
    // @unchecked: all state is guarded by `lock`.
    private let lock = NSLock()
    private var modelId = ""
    private var version = ""
    private var swaps = 0
    private var answered = 0
    private var activity = "starting"

    /// Heartbeat fields: `model`, `version`, `swaps`, `answered`, `activity`.
    var details: [String: String] {
        lock.withLock {
            ["model": modelId, "version": version, "swaps": String(swaps), "answered": String(answered),
             "activity": activity]
        }
    }

    /// Names the deployment.
    func serve(modelId: String) { lock.withLock { self.modelId = modelId } }

    /// Records the version serving now and the swap count.
    func serving(version: String, swaps: Int) {
        lock.withLock {
            self.version = version
            self.swaps = swaps
        }
    }

    /// Sets the activity (`loading model`, `building plan …`, `serving`).
    func set(activity: String) { lock.withLock { self.activity = activity } }

    /// Counts one answered request.
    func countAnswer() { lock.withLock { answered += 1 } }
}
