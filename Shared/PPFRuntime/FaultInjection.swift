import Foundation

/// Named points where a test can make a process die with SIGKILL, or hold
/// still until the test kills it, to prove that a crash at exactly that
/// moment loses and duplicates nothing.
///
/// A process acts at `point` only when the environment variable
/// `PPF_FAULT_INJECTION` names it; otherwise ``crashIfRequested(at:)`` and
/// ``holdIfRequested(at:)`` do nothing. The fault tests set it on the child
/// processes they start.
public enum FaultInjection {
    /// After a transaction with outbox entries committed, before anything was published.
    public static let afterOutboxCommit = "after-outbox-commit"
    /// In an outbox relay, after a batch was published (the broker acknowledged
    /// at least one entry) and before the transaction that marks it published
    /// committed: the one place a topic gets a duplicate. The process kills itself.
    public static let relayAfterPublishBeforeMark = "relay-after-publish-before-mark"
    /// Inside an evaluator's measurement: the plan is applied, no window is scored
    /// yet, and nothing about the request is written (so a kill lands mid-evaluation).
    public static let duringMeasurement = "during-measurement"

    private static let requested = ProcessInfo.processInfo.environment["PPF_FAULT_INJECTION"]

    /// Kills this process with SIGKILL if a test asked for a crash at `point`.
    public static func crashIfRequested(at point: String) {
        guard requested == point else { return }
        FileHandle.standardError.write(Data("fault injection: SIGKILL at \(point)\n".utf8))
        kill(getpid(), SIGKILL)
    }

    /// Blocks the calling thread for good if a test asked to hold at `point`,
    /// after printing `fault injection: holding at <point>`; the test then
    /// kills the process at a moment it knows. Call it only from a dedicated
    /// thread (a ``BlockingQueue``), never from the cooperative pool: the rest
    /// of the process (heartbeats, consumer polling) keeps running meanwhile,
    /// as it would during a long measurement.
    public static func holdIfRequested(at point: String) {
        guard requested == point else { return }
        FileHandle.standardError.write(Data("fault injection: holding at \(point) until killed\n".utf8))
        while true { sleep(3600) }
    }
}
