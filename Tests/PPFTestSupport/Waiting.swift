import Foundation

/// Setup trouble worth reading, not a product error.
public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String
    /// Creates an error with a message for the person running the tests.
    public init(_ description: String) { self.description = description }
}

/// Runs `body`, failing with a clear error if it takes longer than `limit`.
public func withTimeLimit<Value: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
    try await withThrowingTaskGroup(of: Value?.self) { group in
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

/// Polls `condition` every 20 ms until it holds or `limit` passes.
public func eventually(within limit: Duration = .seconds(10), _ condition: @Sendable () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

