import Foundation

/// Exponential backoff: how long to wait after a failed attempt, and when to give up.
///
/// The schedule is a pure function (``delay(afterFailedAttempt:)``) so it can be
/// tested without a clock: after failed attempt `n` (1-based) wait
/// `min(initialDelay · multiplierⁿ⁻¹, maxDelay)`.
public struct RetryPolicy: Sendable, Equatable {
    /// Wait after the first failure. Default 0.1 s.
    public var initialDelay: Duration
    /// Growth of the wait per further failure. Default 2.
    public var multiplier: Double
    /// Upper bound of a single wait. Default 5 s.
    public var maxDelay: Duration
    /// Attempts before giving up; `nil` retries until the task is cancelled. Default `nil`.
    public var maxAttempts: Int?

    /// Creates a policy; every default is documented on its property.
    public init(initialDelay: Duration = .milliseconds(100), multiplier: Double = 2,
                maxDelay: Duration = .seconds(5), maxAttempts: Int? = nil) {
        self.initialDelay = initialDelay
        self.multiplier = multiplier
        self.maxDelay = maxDelay
        self.maxAttempts = maxAttempts
    }

    /// The default: 0.1 s, doubling, at most 5 s apart, never giving up —
    /// what a service waiting for its database at start-up wants.
    public static let standard = RetryPolicy()

    /// The wait after failed attempt `attempt` (1-based), or `nil` when no
    /// further attempt should be made.
    public func delay(afterFailedAttempt attempt: Int) -> Duration? {
        precondition(attempt >= 1, "attempts are counted from 1")
        if let maxAttempts, attempt >= maxAttempts { return nil }
        let initial = initialDelay.seconds
        let cap = maxDelay.seconds
        // Compare exponents rather than computing a huge power that overflows to inf.
        let growth = pow(max(multiplier, 1), Double(attempt - 1))
        let seconds = growth.isFinite ? min(initial * growth, cap) : cap
        return .nanoseconds(Int64((max(seconds, 0) * 1e9).rounded()))
    }
}

extension Duration {
    /// The duration in seconds as a `Double` (for logs and arithmetic).
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }

    /// Whole milliseconds, rounded up so that a non-zero duration never becomes 0.
    var wholeMilliseconds: Int64 {
        let (whole, attoseconds) = components
        let millis = whole * 1000 + attoseconds / 1_000_000_000_000_000
        return attoseconds % 1_000_000_000_000_000 == 0 ? millis : millis + 1
    }
}
