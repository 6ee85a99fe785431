import Foundation

/// Named points where a test can make a process die with SIGKILL, to prove
/// that a crash at exactly that moment loses and duplicates nothing.
///
/// A process dies at `point` only when the environment variable
/// `PPF_FAULT_INJECTION` names it; otherwise ``crashIfRequested(at:)`` does
/// nothing. The fault tests set it on the child processes they start.
public enum FaultInjection {
    /// After a transaction with outbox entries committed, before anything was published.
    public static let afterOutboxCommit = "after-outbox-commit"

    private static let requested = ProcessInfo.processInfo.environment["PPF_FAULT_INJECTION"]

    /// Kills this process with SIGKILL if a test asked for a crash at `point`.
    public static func crashIfRequested(at point: String) {
        guard requested == point else { return }
        FileHandle.standardError.write(Data("fault injection: SIGKILL at \(point)\n".utf8))
        kill(getpid(), SIGKILL)
    }
}
