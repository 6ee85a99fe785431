import Foundation

// MARK: - ServiceStatus

/// What a service is doing, for its heartbeats: named fields (the model it
/// serves, its current activity, progress) and counters (plans stored,
/// measurements taken, answers given). Written by the service's workflows,
/// read by the heartbeat task, so every access takes the lock.
///
/// The field names are the heartbeat's `details` keys that `ppf status`
/// prints; each service starts with the fields it always reports.
public final class ServiceStatus: @unchecked Sendable {
    // @unchecked: `fields` is guarded by `lock`.
    private let lock = NSLock()
    private var fields: [String: String]

    /// A status with `activity` "starting", each of `counters` at 0, and `fields`.
    public init(counters: [String] = [], fields: [String: String] = [:]) {
        var initial = fields
        initial["activity"] = initial["activity"] ?? "starting"
        for counter in counters { initial[counter] = "0" }
        self.fields = initial
    }

    /// Every field, for a heartbeat.
    public var details: [String: String] { lock.withLock { fields } }

    /// Sets `field` (nil removes it).
    public func set(_ field: String, to value: String?) { lock.withLock { fields[field] = value } }

    /// Sets the current activity; any progress of the previous one goes.
    public func set(activity: String) {
        lock.withLock {
            fields["activity"] = activity
            fields["progress"] = nil
        }
    }

    /// Names the model this instance serves (`model`).
    public func serve(modelId: String) { set("model", to: modelId) }

    /// Adds `delta` to the counter `field` (a missing counter starts at 0).
    public func count(_ field: String, by delta: Int = 1) {
        lock.withLock { fields[field] = String((fields[field].flatMap { Int($0) } ?? 0) + delta) }
    }
}
