import Foundation
import Logging
import Testing
@testable import PPFRuntime

/// A service that counts work items and, when cancelled, finishes the item
/// in hand before returning (the drain behaviour every PPF service follows).
final class CountingService: PPFService, @unchecked Sendable {
    let name = "counting"
    private let lock = NSLock()
    private var _completed = 0
    private var _drained = false
    var completed: Int { lock.withLock { _completed } }
    var drained: Bool { lock.withLock { _drained } }

    func run() async throws {
        while !Task.isCancelled {
            // One unit of "in-flight" work that must not be abandoned halfway.
            try? await Task.sleep(for: .milliseconds(20))
            lock.withLock { _completed += 1 }
        }
        lock.withLock { _drained = true }
    }
}

struct FailingService: PPFService {
    let name = "failing"
    struct Boom: Error {}
    func run() async throws {
        try await Task.sleep(for: .milliseconds(50))
        throw Boom()
    }
}

@Suite struct ServiceRunnerTests {
    @Test(.timeLimit(.minutes(1))) func aFailingServiceStopsTheOthersAfterTheyDrain() async throws {
        let counting = CountingService()
        let runner = ServiceRunner(services: [counting, FailingService()], logger: Logger(label: "test"))
        await #expect(throws: FailingService.Boom.self) { try await runner.run() }
        #expect(counting.drained)
        #expect(counting.completed >= 1)
    }

    @Test(.timeLimit(.minutes(1))) func cancellingTheRunnerDrainsEveryService() async throws {
        let counting = CountingService()
        let runner = ServiceRunner(services: [counting], logger: Logger(label: "test"))
        let task = Task { try await runner.run() }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        try await task.value
        #expect(counting.drained)
    }
}
