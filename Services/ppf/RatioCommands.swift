import ArgumentParser
import Foundation
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime
import PPFStore
import PPFWorkflows

/// `ppf ratio …`: ask the running system to re-prune.
struct Ratio: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Emit ratio-change events.", subcommands: [Set.self])

    /// `ppf ratio set <r>`: record a ratio-change event and publish it.
    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Emit a ratio-change event: the agent answers with a new policy.",
            discussion: """
                The event is stored in PostgreSQL (ratio_events, audit_log) and published on \
                ppf.ratio-events through the transactional outbox, so it is never lost: if \
                publishing fails here, any running service's relay publishes it.
                """)

        @Argument(help: "Target ratio: the fraction of prunable parameters to remove, 0 ≤ r < 1.")
        var ratio: Double

        @Option(help: "The model (deployment) to prune.")
        var model: String = "smollm2-135m"

        @Option(help: "dynamic: instant agent policy; static: searched and verified.")
        var mode: PruningMode = .dynamic

        @Option(help: "Who asks, for the audit trail (default: $USER).")
        var by: String = ProcessInfo.processInfo.environment["USER"] ?? "ppf-cli"

        @Flag(help: "Wait for the answer and print the policy, its plan and its spot-check measurement.")
        var wait = false

        @Option(help: "Also measure this hand-made baseline at the same ratio, the same way, and compare (implies --wait).")
        var compare: BaselinePolicy?

        @Option(help: "Seconds to wait for the agent's answer (default: 60 dynamic, 3600 static).")
        var timeout: Double?

        @Option(help: "Seconds to wait for each measurement (0: do not wait for measurements).")
        var measureTimeout: Double = 600

        func validate() throws {
            guard ratio.isFinite, ratio >= 0, ratio < 1 else {
                throw ValidationError("the ratio must be in [0, 1), got \(ratio)")
            }
        }

        func run() async throws {
            let change = try RatioChange(modelId: model, targetRatio: ratio, mode: mode, requestedBy: by)
            let context = try await ServiceContext.start(serviceName: "ppf", settings: CommandLineSettings.current)
            let id = UUID()
            try await context.pool.withTransaction { connection in
                try await RatioEvents.emit(change, id: id, producer: context.producerName, on: connection)
            }
            FaultInjection.crashIfRequested(at: FaultInjection.afterOutboxCommit)
            var published = true
            do {
                published = try await context.makeOutboxRelay().publishPending()
            } catch {
                published = false
                context.logger.warning("publishing now failed (\(error)); a service's relay will publish it")
            }
            print("ratio event \(id.uuidString.lowercased()): \(model) → r=\(ratio) (\(mode.rawValue))"
                  + (published ? ", published" : ", queued in the outbox; a running service's relay is publishing it"))
            do {
                if wait || compare != nil { try await follow(id, context: context) }
            } catch {
                await context.shutdown()
                throw error
            }
            await context.shutdown()
        }

        /// `--wait`: the answer, the plan, the spot-check and the comparison.
        private func follow(_ id: UUID, context: ServiceContext) async throws {
            let waiter = RatioEventFollower(context: context, eventId: id,
                                            answerTimeout: .seconds(timeout ?? (mode == .dynamic ? 60 : 3600)),
                                            measureTimeout: .seconds(measureTimeout))
            let (answer, policy) = try await waiter.answer()
            RatioWaitOutput.printAnswer(answer, policy: policy)
            RatioWaitOutput.printPlan(try await waiter.plan(timeout: .seconds(30)), timeout: .seconds(30))
            guard measureTimeout > 0, let policyId = answer.policyId else { return }
            var measured: Double?
            if let spot = try await waiter.spotCheck(policyId: policyId) {
                measured = spot.perplexity
                print(String(format: "spot-check by the evaluators (%@): measured perplexity %.2f", spot.regime, spot.perplexity)
                      + (answer.predictedPerplexity.map { String(format: " (predicted %.2f, %+.1f %%)", $0, 100 * ($0 / spot.perplexity - 1)) } ?? ""))
            } else {
                print("no spot-check measurement within \(Int(measureTimeout)) s (evaluators busy or PPF_AGENT_SPOT_CHECKS=false)")
            }
            guard let compare else { return }
            let regime = try await context.pool.withConnection { connection -> MeasurementRegime? in
                guard let version = answer.predictorVersionId else { return nil }
                return try await PredictorVersionRepository.regime(versionId: version, on: connection)?.measured
            }
            guard let regime else { return print("no measurement regime to compare in (the predictor has no stored measurements)") }
            let baseline = try Self.baselinePolicy(compare, ratio: ratio, metric: regime.metric)
            print("measuring the \(compare.rawValue) baseline at r=\(ratio) the same way…")
            guard let reference = try await waiter.measureBaseline(baseline, named: compare.rawValue, targetRatio: ratio,
                                                                   regime: regime, modelId: model) else {
                return print("the \(compare.rawValue) measurement did not arrive within \(Int(measureTimeout)) s")
            }
            print(String(format: "%@ at r=%.3f: measured perplexity %.2f", compare.rawValue, ratio, reference)
                  + (measured.map { String(format: " → PPF is %.1f %% %@", abs(100 * (1 - $0 / reference)), $0 <= reference ? "lower" : "higher") } ?? ""))
        }

        /// The baseline's policy on the configured model (with cached calibration where it needs it).
        static func baselinePolicy(_ baseline: BaselinePolicy, ratio: Double, metric: String) throws -> PruningPolicy {
            let settings = CommandLineSettings.current
            let url = URL(fileURLWithPath: settings.modelDirectory).appendingPathComponent(settings.modelFile)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw UserFacingError("no model at \(url.path) to build the baseline on; run `make setup`")
            }
            let checkpoint = try LlamaCheckpoint.load(contentsOf: url)
            let source = PolicySource.baseline(baseline)
            let session = try PruningSession.prepare(
                checkpoint: checkpoint, corpus: Corpus(directory: URL(fileURLWithPath: settings.corpusDirectory)),
                metric: MetricKind(rawValue: metric) ?? .flap,
                cache: CalibrationCache(directory: URL(fileURLWithPath: settings.calibrationCacheDirectory)),
                calibrate: source.needsCalibration || metric != MetricKind.magnitude.rawValue)
            return try session.policy(source, targetRatio: ratio)
        }
    }
}

extension PruningMode: ExpressibleByArgument {}
extension BaselinePolicy: ExpressibleByArgument {}
