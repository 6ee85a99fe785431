import ArgumentParser
import Foundation
import PPFContracts
import PPFModel
import PPFPredictor
import PPFPruning
import PPFRuntime
import PPFWorkflows
import PPFStore
import PPFTensor

/// `ppf bench predictor`: the predictor against the true measurement it
/// replaces, side by side in one run on the same policies.
struct PredictorSpeedBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predictor",
        abstract: "Prediction latency and throughput against true perplexity measurements of the same policies.",
        discussion: """
            Takes --policies held-out policies of the newest stored predictor version, measures each \
            for real in this process (plan, apply, perplexity in the predictor's regime: same split, \
            token budget and window as its training measurements), and times the predictor on the \
            same policies: one policy per call (median of many calls) and all of them batched. \
            Needs the stack (`make up`) and a trained predictor (`ppf bootstrap`).
            """)

    @Option(help: "Policies measured for real (each takes seconds).")
    var policies: Int = 8

    @Option(help: "Single-policy prediction calls timed (median reported).")
    var repetitions: Int = 500

    @Option(help: "Policies per batched prediction call (cycled from the measured ones).")
    var batchSize: Int = 1024

    @Option(help: "The model id.")
    var modelId: String = CommandLineSettings.current.modelId

    @Option(help: "Replace the bench-predictor section of this markdown file with the results.")
    var write: String?

    @OptionGroup var model: ModelOptions

    func run() async throws {
        let connection = try await StoredAgents.connect()
        let stored = try await StoredAgents.predictor(modelId: modelId, versionId: nil, on: connection)
        let (training, heldOut, _, policyById) = try await TrainingData.samples(of: stored, on: connection)
        let trainedIn = try await PredictorVersionRepository.regime(versionId: stored.record.id, on: connection)?.measured
        let chosen = Array((heldOut.isEmpty ? training : heldOut).prefix(policies))
        guard !chosen.isEmpty, let trainedIn else {
            throw UserFacingError("the predictor version has no stored samples to benchmark on")
        }
        guard let metric = MetricKind(rawValue: trainedIn.metric), let split = CorpusSplit(rawValue: trainedIn.split) else {
            throw UserFacingError("the predictor's measurements use metric '\(trainedIn.metric)' on split '\(trainedIn.split)', which this build does not know")
        }
        let predictor = stored.predictor
        let checkpoint = try model.load()
        let settings = CommandLineSettings.current
        let corpus = Corpus(directory: URL(fileURLWithPath: settings.corpusDirectory))
        let session = try PruningSession.prepare(
            checkpoint: checkpoint, corpus: corpus, metric: metric,
            cache: CalibrationCache(directory: URL(fileURLWithPath: CommandLineSettings.current.calibrationCacheDirectory)))
        // The true measurement, as the evaluator takes it.
        let measurer = InProcessMeasurer(session: session,
                                         tokens: checkpoint.tokens(of: try corpus.text(of: split), limit: trainedIn.tokenBudget),
                                         window: trainedIn.window, queue: BlockingQueue(label: "ppf.bench.predictor"))
        print("predictor \(stored.record.id.uuidString.lowercased()): \(predictor.members.count) members; "
              + "true measurements: \(trainedIn); \(Machine.description)")

        var rows: [Row] = []
        for (index, sample) in chosen.enumerated() {
            guard let policy = policyById[sample.id] else { continue }
            let result = try measurer.timedPerplexity(of: policy, ratio: nil)
            let measureSeconds = result.seconds ?? .nan
            // The prediction of the same policy.
            let timing = try PredictorBenchmark.measure(predictor, policies: [sample.features],
                                                        singleRepetitions: repetitions, batchRepetitions: 1)
            let predicted = try predictor.predict(sample.features)
            rows.append(Row(measuredPerplexity: result.perplexity, predictedPerplexity: predicted.perplexity,
                            measureSeconds: measureSeconds, predictSeconds: timing.singlePolicyLatencySeconds))
            FileHandle.standardError.write(Data(String(format: "policy %d/%d: measured %.2f in %.2f s, predicted %.2f in %.1f µs\n",
                index + 1, chosen.count, result.perplexity, measureSeconds, predicted.perplexity,
                1e6 * timing.singlePolicyLatencySeconds).utf8))
        }
        let batch = (0..<batchSize).map { chosen[$0 % chosen.count].features }
        let batched = try PredictorBenchmark.measure(predictor, policies: batch, singleRepetitions: 1, batchRepetitions: 5)

        let medianMeasure = Statistics.median(rows.map(\.measureSeconds))
        let medianPredict = Statistics.median(rows.map(\.predictSeconds))
        var markdown = """
            `ppf bench predictor --policies \(policies)` on \(Self.machine()), \(Self.today()); predictor of \
            \(stored.record.sampleCount) policies, \(predictor.members.count)-member ensemble; true measurement = \
            plan + apply + perplexity of \(trainedIn.tokenBudget) \(trainedIn.split) tokens (windows of \(trainedIn.window)).

            | policy | measured ppl | predicted ppl | measurement (s) | prediction (µs) | speed ratio |
            |---:|---:|---:|---:|---:|---:|

            """
        for (index, row) in rows.enumerated() {
            markdown += String(format: "| %d | %.2f | %.2f | %.2f | %.1f | %.0f× |\n", index + 1, row.measuredPerplexity,
                               row.predictedPerplexity, row.measureSeconds, 1e6 * row.predictSeconds,
                               row.measureSeconds / row.predictSeconds)
        }
        markdown += String(format: """

            - median true measurement **%.2f s**; median single-policy prediction **%.1f µs**: **%.0f× faster**
            - batched: %d policies in %.2f ms = **%.0f policies/s** (%.2f µs each, %.0f× the measurement rate)
            """, medianMeasure, 1e6 * medianPredict, medianMeasure / medianPredict, batched.batchSize,
            1e3 * batched.batchSeconds, batched.policiesPerSecond, 1e6 / batched.policiesPerSecond,
            medianMeasure * batched.policiesPerSecond)
        print(markdown)
        if let write {
            try MarkdownSections.replace(section: "bench-predictor", in: URL(fileURLWithPath: write),
                                         title: "Predictor against true measurement", with: markdown)
            print("\nwrote the bench-predictor section of \(write)")
        }
    }

    struct Row {
        let measuredPerplexity, predictedPerplexity, measureSeconds, predictSeconds: Double
    }

    static func machine() -> String {
        "\(ProcessInfo.processInfo.activeProcessorCount) cores"
    }

    static func today() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: Date())
    }
}
