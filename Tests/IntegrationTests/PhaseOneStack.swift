import Foundation
import PPFContracts
import PPFTestSupport

/// The phase-1 services of one test as real child processes: evaluators and
/// a predictor on a ``TinyModelFixture``, in an ``IsolatedDatabase``, in
/// consumer groups no other run shares.
struct PhaseOneStack: Sendable {
    let database: IsolatedDatabase
    let fixture: TinyModelFixture
    /// Prefixed to every consumer group, so this test's evaluators form a group of their own.
    let groupPrefix = "it-\(UUID().uuidString.prefix(8).lowercased())-"

    /// The environment every child gets: database, broker, groups, model, corpus, root.
    var environment: [String: String] {
        fixture.environment.merging([
            "PPF_POSTGRES_URL": database.url, "PPF_KAFKA_BROKERS": Stack.kafkaBrokers,
            "PPF_CONSUMER_GROUP_PREFIX": groupPrefix, "PPF_HEARTBEAT_SECONDS": "1", "PPF_BLAS_THREADS": "1",
        ]) { _, new in new }
    }

    /// Starts an evaluator named `instance` and waits until its model is loaded.
    func startEvaluator(_ instance: String, extra: [String: String] = [:]) async throws -> ServiceProcess {
        let evaluator = try ServiceProcess.start(
            "evaluator", environment: environment.merging(["PPF_INSTANCE_ID": instance]) { _, new in new }
                .merging(extra) { _, new in new })
        do {
            try await evaluator.waitForOutput("model '\(fixture.modelId)' loaded", within: .seconds(60))
        } catch {
            await evaluator.stop()
            throw error
        }
        return evaluator
    }

    /// Starts the predictor, retraining after `retrainAfter` new measurements, and waits until it is ready.
    func startPredictor(retrainAfter: Int) async throws -> ServiceProcess {
        let predictor = try ServiceProcess.start(
            "predictor", environment: environment.merging(["PPF_PREDICTOR_RETRAIN_AFTER": String(retrainAfter)]) { _, new in new })
        do {
            try await predictor.waitForOutput("ready", within: .seconds(60))
        } catch {
            await predictor.stop()
            throw error
        }
        return predictor
    }

    /// Runs `ppf` with `arguments` to completion and returns its output.
    /// - Throws: when it does not exit with status 0 within `limit`.
    func ppf(_ arguments: [String], within limit: Duration = .seconds(240)) async throws -> String {
        let command = try ServiceProcess.start("ppf", arguments, environment: environment)
        let ending: ServiceProcess.Termination
        do {
            ending = try await command.waitForExit(within: limit)
        } catch {
            await command.stop()
            throw TestSetupError("`ppf \(arguments.joined(separator: " "))` did not finish within \(limit): \(command.output.suffix(3000))")
        }
        guard ending == .exited(0) else {
            throw TestSetupError("`ppf \(arguments.joined(separator: " "))` \(ending): \(command.output.suffix(3000))")
        }
        return command.output
    }
}

/// The partitions of `topic` a consumer holds now, replayed from the
/// `assigned …` / `revoked …` lines of its log (PPFBus logs every rebalance).
func heldPartitions(of topic: String, in log: String) -> Set<Int> {
    var held = Set<Int>()
    let marker = topic + "["
    for line in log.split(separator: "\n") {
        let assigned = line.contains("assigned "), revoked = line.contains("revoked ")
        guard assigned || revoked else { continue }
        var partitions = Set<Int>()
        var rest = line[...]
        while let start = rest.range(of: marker) {
            let digits = rest[start.upperBound...].prefix { $0.isNumber }
            if let partition = Int(digits) { partitions.insert(partition) }
            rest = rest[start.upperBound...]
        }
        if assigned { held.formUnion(partitions) } else { held.subtract(partitions) }
    }
    return held
}
