import Foundation

/// A service instance saying it is alive, what it runs and how busy it is.
/// Topic: ``Topic/status``, key: ``instanceId``. `ppf status` reads these.
public struct Heartbeat: MessagePayload, Equatable {
    public static let messageType = "heartbeat"
    public static let schemaVersion = 1

    /// The service, e.g. `"evaluator"`.
    public var service: String
    /// The instance, e.g. `"host-1234"`.
    public var instanceId: String
    /// The PPF build version.
    public var version: String
    /// When the instance started.
    public var startedAt: Date
    /// Work items in hand (e.g. an evaluation in progress).
    public var inFlight: Int
    /// Free-form status details (model version served, current job, …).
    public var details: [String: String]

    /// Creates a heartbeat.
    public init(service: String, instanceId: String, version: String, startedAt: Date,
                inFlight: Int, details: [String: String] = [:]) {
        self.service = service
        self.instanceId = instanceId
        self.version = version
        self.startedAt = startedAt
        self.inFlight = inFlight
        self.details = details
    }
}

/// The PPF build version every service reports.
public enum PPFVersion {
    /// Semantic version of this build.
    public static let current = "0.1.0"
}
