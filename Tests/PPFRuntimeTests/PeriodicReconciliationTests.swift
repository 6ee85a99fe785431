import Foundation
import Logging
import Testing
@testable import PPFRuntime

/// The periodic reconciliation every run-time service runs besides its
/// consumer: passes repeat, a failing pass does not stop the next ones, and
/// cancellation ends the loop. Its interval is the `PPF_RECONCILE_SECONDS` setting.
@Suite struct PeriodicReconciliationTests {
    /// Counts passes; the first `failing` ones throw.
    final class Passes: @unchecked Sendable {
        struct Boom: Error {}
        private let lock = NSLock()
        private var count = 0
        let failing: Int

        init(failing: Int) { self.failing = failing }

        var total: Int { lock.withLock { count } }

        func pass() throws {
            let number = lock.withLock { () -> Int in
                count += 1
                return count
            }
            if number <= failing { throw Boom() }
        }
    }

    @Test(.timeLimit(.minutes(1))) func passesRepeatThroughFailuresUntilCancelled() async throws {
        let passes = Passes(failing: 2)
        let reconciliation = PeriodicReconciliation(name: "test reconciliation", interval: .milliseconds(10),
                                                    logger: Logger(label: "test")) { try passes.pass() }
        let task = Task { try await reconciliation.run() }
        var waited = 0
        while passes.total < 5 && waited < 500 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(passes.total >= 5, "two failing passes did not stop the later ones")
        task.cancel()
        try await task.value
        let after = passes.total
        try await Task.sleep(for: .milliseconds(50))
        #expect(passes.total == after, "no pass runs after cancellation")
    }

    @Test func theIntervalIsASettingWithAThirtySecondDefault() throws {
        #expect(try Settings.load(serviceName: "agent", environment: [:], arguments: []).settings.reconcileSeconds == 30)
        let quick = try Settings.load(serviceName: "agent", environment: ["PPF_RECONCILE_SECONDS": "2"], arguments: [])
        #expect(quick.settings.reconcileSeconds == 2)
        #expect(throws: SettingsError.self) {
            try Settings.load(serviceName: "agent", environment: ["PPF_RECONCILE_SECONDS": "0"], arguments: [])
        }
        #expect(Settings.environmentVariables.contains("PPF_RECONCILE_SECONDS"))
    }
}
