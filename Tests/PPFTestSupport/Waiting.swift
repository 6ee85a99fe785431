import Foundation

/// Setup trouble worth reading, not a product error.
public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String
    /// Creates an error with a message for the person running the tests.
    public init(_ description: String) { self.description = description }
}

/// How many times longer than written every deadline of the tests is.
///
/// `PPF_TEST_DEADLINE_SCALE` (a whole number, default 1) stretches the waits
/// (``withTimeLimit(_:_:)``, ``eventually(within:_:)``, and so every
/// `ServiceProcess` wait) and the suites' time limits, for builds that do the
/// same work several times slower: `--sanitize=thread` runs the services 5–15×
/// slower than a debug build, and a deadline written for a debug build would
/// report that as a failure.
public enum TestDeadlines {
    /// The factor from `PPF_TEST_DEADLINE_SCALE`; 1 when unset or not a positive whole number.
    public static let scale: Int = {
        guard let text = ProcessInfo.processInfo.environment["PPF_TEST_DEADLINE_SCALE"], let value = Int(text),
              value >= 1 else { return 1 }
        return value
    }()

    /// `limit` stretched by ``scale``.
    public static func scaled(_ limit: Duration) -> Duration { limit * scale }

    /// A suite's time limit of `minutes`, stretched by ``scale``.
    public static func minutes(_ minutes: Int) -> Int { minutes * scale }
}

/// Runs `body`, failing with a clear error if it takes longer than `limit`
/// (stretched by ``TestDeadlines/scale``).
public func withTimeLimit<Value: Sendable>(_ written: Duration, _ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
    let limit = TestDeadlines.scaled(written)
    return try await withThrowingTaskGroup(of: Value?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TestSetupError("the test did not finish within \(limit)")
        }
        return value
    }
}

/// Polls `condition` every 20 ms until it holds or `limit` (stretched by
/// ``TestDeadlines/scale``) passes.
public func eventually(within limit: Duration = .seconds(10), _ condition: @Sendable () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + TestDeadlines.scaled(limit)
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

