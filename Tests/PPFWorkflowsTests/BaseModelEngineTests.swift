import Foundation
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime
import PPFStore
import PPFTestSupport
import PPFWorkflows
import Testing

/// ``BaseModelEngine`` on the tiny random model: the one calibration rule,
/// planning, measuring and building served models from the same sessions.
@Suite struct BaseModelEngineTests {
    static func engine(_ tiny: TinyModel) async throws -> BaseModelEngine {
        try await BaseModelEngine.load(
            url: tiny.folder.appendingPathComponent(TinyModel.fileName),
            corpus: Corpus(directory: tiny.folder.appendingPathComponent("corpus")),
            cache: CalibrationCache(directory: tiny.folder.appendingPathComponent("calibration")),
            queue: BlockingQueue(label: "test.engine"))
    }

    @Test func aMissingCheckpointIsANamedError() async throws {
        await #expect { _ = try await BaseModelEngine.load(
            url: URL(fileURLWithPath: "/nonexistent/model.gguf"), corpus: Corpus(directory: URL(fileURLWithPath: "/nonexistent")),
            cache: CalibrationCache(directory: URL(fileURLWithPath: "/tmp")), queue: BlockingQueue(label: "t")) } throws: { error in
            (error as? ModelError)?.code == .io && "\(error)".contains("make setup")
        }
    }

    @Test func plansMeasurementsAndServedModelsComeFromTheSameSessionsAndCalibration() async throws {
        let tiny = try TinyModel.make()
        defer { tiny.remove() }
        let engine = try await Self.engine(tiny)
        #expect(engine.blockCount == TinyModel.blocks)
        #expect(engine.calibration.windowLength == 256, "the context length (256) caps the default 512-token windows")

        let policy = PruningPolicy.uniform(blocks: TinyModel.blocks, attention: 0.5, mlp: 0.25)
        let plan = try await engine.plan(policy, metric: .flap)
        #expect(plan.calibration == engine.calibration, "the plan records the engine's calibration")
        #expect(plan.achievedRatio > 0.2 && plan.achievedRatio < 0.5)

        // The evaluator's number is the in-process measurer's on the same tokens.
        let measured = try await engine.measure(policy: policy, metric: .flap, split: .validation, tokenBudget: 300, window: 100)
        let session = try await engine.session(for: .flap)
        let tokens = try await engine.prefix(of: .validation, tokenBudget: 300)
        #expect(tokens.count == 300)
        let inProcess = try InProcessMeasurer.perplexity(of: policy, ratio: nil, session: session, tokens: tokens, window: 100)
        #expect(isClose(measured.perplexity, inProcess, relative: 1e-9), "\(measured.perplexity) vs \(inProcess)")
        #expect(measured.achievedRatio == plan.achievedRatio && measured.tokensCounted > 0)

        // With a dense reference on those tokens, the same pass adds the divergence; the dense policy's is zero.
        let reference = try DenseReference(model: session.checkpoint.model, tokens: tokens, windowLength: 100)
        let byDivergence = InProcessMeasurer(session: session, reference: reference, queue: BlockingQueue(label: "test.kl"))
        let pruned = try byDivergence.timedPerplexity(of: policy, ratio: nil)
        #expect(isClose(pruned.perplexity, inProcess, relative: 1e-9) && (pruned.divergence ?? 0) > 0)
        let dense = PruningPolicy.uniform(blocks: TinyModel.blocks, attention: 0, mlp: 0)
        #expect(try byDivergence.timedPerplexity(of: dense, ratio: nil).divergence! < 1e-6)

        // model-host builds the plan the pruner made, and refuses one made for another checkpoint.
        let encoded = String(decoding: try MessageCoding.encoder().encode(plan), as: UTF8.self)
        let record = PlanRecord(ratioEventId: UUID(), policyId: UUID(), modelId: tiny.modelId, metric: "flap", plan: encoded,
                                keptParameters: 1, totalParameters: 2, achievedRatio: plan.achievedRatio, targetRatio: nil,
                                exportPath: nil, prunerId: "test", seconds: 0)
        let built = try await engine.build(record)
        #expect(built.model.configuration.blockCount == TinyModel.blocks)
        var foreign = record
        foreign.plan = encoded.replacingOccurrences(of: try await engine.checksum(), with: String(repeating: "0", count: 64))
        await #expect { _ = try await engine.build(foreign) } throws: { error in
            "\(error)".contains("was made for checkpoint")
        }

        // A policy for another block count is the caller's error, named.
        await #expect(throws: EnvelopeRejection.self) {
            _ = try await engine.plan(PruningPolicy.uniform(blocks: 3, attention: 0.1, mlp: 0.1), metric: .magnitude)
        }
    }

    @Test func measurementsStartFromTheDensePrefixCacheAndScoreWhatTheyScoreWithout() async throws {
        let tiny = try TinyModel.make()
        defer { tiny.remove() }
        let engine = try await Self.engine(tiny)
        let n = TinyModel.blocks
        let dense = PruningPolicy.uniform(blocks: n, attention: 0, mlp: 0)
        func probe(_ block: Int) -> PruningPolicy {
            var layers = dense.layers
            layers[block] = LayerPolicy(attentionRatio: 0.5, mlpRatio: 0.5)
            return PruningPolicy(layers: layers)
        }
        // FLAP compensates biases, so this also checks that an unpruned block's (zero) compensation keeps it shared.
        for metric in [MetricKind.flap, .wandaSP] {
            var cached: [Double] = []
            await engine.setPrefixCache(bytes: BaseModelEngine.defaultPrefixCacheBytes)
            for (policy, skipped) in [(dense, 0), (probe(n - 1), n - 1), (probe(1), 1), (probe(0), 0)] {
                let measured = try await engine.measure(policy: policy, metric: metric, split: .validation, tokenBudget: 300,
                                                        window: 100)
                #expect(measured.blocksSkippedPerWindow == Double(skipped), "\(metric): \(measured.blocksSkippedPerWindow) skipped")
                cached.append(measured.perplexity)
            }
            await engine.setPrefixCache(bytes: 0)
            for (policy, expected) in zip([dense, probe(n - 1), probe(1), probe(0)], cached) {
                let measured = try await engine.measure(policy: policy, metric: metric, split: .validation, tokenBudget: 300,
                                                        window: 100)
                #expect(measured.blocksSkippedPerWindow == 0)
                #expect(isClose(measured.perplexity, expected, relative: 1e-6), "\(metric): \(measured.perplexity) vs \(expected)")
            }
        }
        #expect(await engine.prefixCacheCounters == nil, "a 0-byte budget holds no cache")
    }

    @Test func inProcessMeasurementsStartFromTheirDensePrefixCacheAndScoreWhatTheyScoreWithout() async throws {
        let tiny = try TinyModel.make()
        defer { tiny.remove() }
        let engine = try await Self.engine(tiny)
        let session = try await engine.session(for: .wandaSP)
        let tokens = try await engine.prefix(of: .validation, tokenBudget: 300)
        let queue = BlockingQueue(label: "test.in-process")
        let cached = InProcessMeasurer(session: session, tokens: tokens, window: 100, queue: queue)
        let plain = InProcessMeasurer(session: session, tokens: tokens, window: 100, queue: queue, prefixCacheBytes: 0)
        #expect(plain.prefixCache == nil)
        let n = TinyModel.blocks
        var layers = PruningPolicy.uniform(blocks: n, attention: 0, mlp: 0).layers
        let dense = PruningPolicy(layers: layers)
        layers[n - 1] = LayerPolicy(attentionRatio: 0.5, mlpRatio: 0.5)
        let probe = PruningPolicy(layers: layers)
        for policy in [dense, probe, PruningPolicy.uniform(blocks: n, attention: 0.25, mlp: 0.25)] {
            let a = try cached.timedPerplexity(of: policy, ratio: nil).perplexity
            let b = try plain.timedPerplexity(of: policy, ratio: nil).perplexity
            #expect(isClose(a, b, relative: 1e-6), "\(a) vs \(b)")
        }
        // Three windows: the dense pass fills, the probe of the last block skips n − 1 blocks in each.
        #expect(cached.prefixCache?.counters.blocksSkipped == 3 * (n - 1))
    }
}

/// What a bootstrap proposes to measure, on the tiny model.
@Suite struct BootstrapProposalTests {
    @Test func baselinesComeFirstAtEachTenthInsideTheRangeThenTheSamplersPolicies() async throws {
        let tiny = try TinyModel.make()
        defer { tiny.remove() }
        let engine = try await BaseModelEngineTests.engine(tiny)
        let session = try await engine.session(for: .flap)
        let candidates = try BootstrapCandidate.proposals(session: session, ratioRange: 0.15...0.45, count: 10, seed: 3)
        let baselines = candidates.prefix { $0.source.hasPrefix("baseline:") }
        #expect(Set(baselines.map(\.targetRatio)) == [0.2, 0.3, 0.4], "the tenths inside 0.15…0.45")
        #expect(candidates.count - baselines.count == 10, "then the sampler's")
        #expect(candidates.dropFirst(baselines.count).allSatisfy { $0.source.hasPrefix("sampler:") })
        // A perturbation names the hand-made rule it perturbs (its fold group in cross-validation).
        let rules = Set(baselines.compactMap { PolicySources.family(of: $0.source) })
        #expect(candidates.contains { PolicySources.kind(of: $0.source) == "perturbation" })
        for perturbation in candidates where PolicySources.kind(of: perturbation.source) == "perturbation" {
            let rule = try #require(PolicySources.family(of: perturbation.source), "\(perturbation.source)")
            #expect(rules.contains(rule))
        }
        for candidate in candidates {
            #expect(candidate.policy.layers.count == TinyModel.blocks)
            #expect(candidate.achievedRatio > 0 && candidate.achievedRatio < 0.7)
        }
        let again = try BootstrapCandidate.proposals(session: session, ratioRange: 0.15...0.45, count: 10, seed: 3)
        #expect(again.map(\.policy) == candidates.map(\.policy), "a seed gives the same proposals")
    }
}
