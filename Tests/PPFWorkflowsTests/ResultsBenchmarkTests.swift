import Foundation
import PPFAgent
import PPFModel
import PPFPruning
import PPFStore
import PPFTestSupport
import PPFWorkflows
import Testing

/// ``ResultsBenchmark`` end to end on the tiny random model: an agent, its
/// static search verified in-process, and every baseline measured in the run.
@Suite struct ResultsBenchmarkTests {
    /// The benchmark of an agent trained for the tiny model's shapes, on the tiny model.
    static func run(on tiny: TinyModel, _ configuration: ResultsBenchmark.Configuration,
                    log: @escaping @Sendable (String) -> Void) async throws -> ResultsReport {
        let checkpoint = try LlamaCheckpoint.load(contentsOf: tiny.folder.appendingPathComponent(TinyModel.fileName))
        let budget = try ParameterBudget(configuration: checkpoint.model.configuration, allowsBlockDrop: false)
        let predictor = PredictorVersionRecord(modelId: tiny.modelId, artifact: [], sampleCount: 120,
                                               trainingMeasurementIds: [], heldOut: nil, trainingSeconds: 1, correlationId: nil)
        return try await ResultsBenchmark(
            checkpoint: checkpoint, corpus: Corpus(directory: tiny.folder.appendingPathComponent("corpus")),
            cache: CalibrationCache(directory: tiny.folder.appendingPathComponent("calibration")),
            agent: try StaticPruningTests.loadedAgent(budget: budget), predictor: predictor, configuration: configuration,
            log: log).run()
    }

    @Test func theResultsTableHoldsADynamicAndAStaticRowPerRatioAndEveryBaselineUnderItsBestMetric() async throws {
        let tiny = try TinyModel.make()
        defer { tiny.remove() }
        var configuration = ResultsBenchmark.Configuration()
        configuration.ratios = [0.2]
        configuration.tokens = 300
        configuration.window = 100
        configuration.verifyTokens = 200
        configuration.staticStarts = ["uniform"]
        configuration.baselinesCSV = nil
        configuration.calibrationWindows = 2
        let lines = Recorded<String>()
        let report = try await Self.run(on: tiny, configuration) { lines.append($0) }

        #expect(report.dynamic.count == 1 && report.staticRows.count == 1)
        let chosen = try #require(report.staticRows.first)
        #expect(chosen.measurements == 2, "one verified candidate from the agent's search and one from the uniform start")
        #expect(chosen.perplexity.isFinite && chosen.validationPerplexity?.isFinite == true)
        #expect(report.densePerplexity.isFinite && report.densePerplexity < chosen.perplexity * 10)
        let names = Set(report.baselines.map(\.baseline))
        #expect(names == Set(BaselinePolicy.allCases.map(\.rawValue)), "every baseline, measured in this run")
        #expect(report.baselines.count == names.count, "one metric (its best) per baseline at the one ratio")
        #expect(report.verifyTokens == 200 && report.staticStarts == ["uniform"])
        let markdown = report.markdown()
        #expect(markdown.contains("dynamic vs best baseline") && markdown.contains("static vs best baseline"))
        #expect(lines.values.contains { $0.contains("PPF static test ppl") })
        #expect(!report.seededByHand, "uniform is not a hand-made rule's seed")
    }

    @Test func theDemosComparisonSharesMetricTokensAndWindowAndListsEachPolicyOncePerRatio() async throws {
        let tiny = try TinyModel.make()
        defer { tiny.remove() }
        var configuration = ResultsBenchmark.Configuration()
        configuration.ratios = [0.2, 0.35]
        configuration.tokens = 200
        configuration.window = 100
        configuration.verifyTokens = 200
        configuration.baselinePolicies = [.llmPruner, .owl, .uniform, .flap]
        configuration.baselinesInPPFMetric = true
        configuration.calibrationWindows = 2
        var search = MeasuredSearchConfiguration()
        search.generations = 2
        search.offspring = 8
        search.measuredPerGeneration = 2
        search.finalists = 2
        configuration.measuredSearch = search
        let report = try await Self.run(on: tiny, configuration) { _ in }
        #expect(report.baselines.allSatisfy { $0.metric == report.metric }, "every baseline under PPF's metric")
        #expect(report.staticRows.allSatisfy { $0.measurements >= 2 + 2 && $0.validationPerplexity?.isFinite == true },
                "PPF static by the measured search: at least the cheap measurements and the finalists'")
        #expect(report.markdown().contains("measured search"))
        #expect(report.markdown().contains("flap (flap)"), "every measured rule is in the report's table")
        #expect(report.markdown().contains("| static: predicted | – | – |"), "the unscreened search predicts nothing: a dash, not nan")
        let rows = report.comparisonCSV().split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        #expect(rows.first == ["ratio", "policy", "split", "tokens", "window", "perplexity"])
        let body = rows.dropFirst()
        #expect(body.count == 2 * 5, "two ratios × (ppf-dynamic, ppf-static, llm-pruner, owl, uniform): the file's policy set, FLAP left out")
        #expect(Set(body.map { $0[1] }) == ["ppf-dynamic", "ppf-static", "llm-pruner", "owl", "uniform"])
        #expect(body.allSatisfy { $0[2] == "test" && $0[3] == "200" && $0[4] == "100" && Double($0[5])?.isFinite == true })
    }
}
