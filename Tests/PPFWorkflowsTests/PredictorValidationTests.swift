import Foundation
import PPFContracts
import PPFPredictor
import PPFStore
import PPFTensor
import PPFWorkflows
import Testing

/// The grouped cross-validation `ppf predictor cv` and `ppf predictor report` print.
@Suite struct PredictorValidationTests {
    static let blocks = 4

    /// Hand-made "rules" (a fixed shape at several ratios), perturbations of
    /// them, and random policies, on a task whose truth is known.
    static func corpus() throws -> (samples: [TrainingSample], provenance: [String: PolicyRepository.Provenance],
                                    policies: [String: PruningPolicy]) {
        let spec = try FeatureSpec(layerCount: blocks)
        var generator = SeededGenerator(seed: 11)
        var samples: [TrainingSample] = [], provenance: [String: PolicyRepository.Provenance] = [:]
        var policies: [String: PruningPolicy] = [:]
        func add(_ id: String, _ policy: PruningPolicy, source: String) throws {
            samples.append(TrainingSample(id: id, features: try PolicyFeatures(policy: policy, spec: spec),
                                          perplexity: exp(StaticPruningTests.trueLogPerplexity(policy))))
            let ratio = policy.layers.map { ($0.attentionRatio + $0.mlpRatio) / 2 }.reduce(0, +) / Double(blocks)
            provenance[id] = PolicyRepository.Provenance(source: source, ratio: ratio)
            policies[id] = policy
        }
        let shapes: [String: [Double]] = ["front": [1.4, 1.1, 0.8, 0.7], "back": [0.6, 0.9, 1.2, 1.3], "flat": [1, 1, 1, 1]]
        for (rule, shape) in shapes.sorted(by: { $0.key < $1.key }) {
            for ratio in [0.1, 0.2, 0.3, 0.4] {
                let policy = PruningPolicy(layers: shape.map { LayerPolicy(attentionRatio: min(0.9, ratio * $0), mlpRatio: min(0.9, ratio * $0)) })
                try add("\(rule)-\(ratio)", policy, source: "baseline:\(rule)")
                let noisy = PruningPolicy(layers: policy.layers.map {
                    LayerPolicy(attentionRatio: min(0.9, max(0, $0.attentionRatio + Double.random(in: -0.05...0.05, using: &generator))),
                                mlpRatio: $0.mlpRatio)
                })
                try add("\(rule)-\(ratio)-p", noisy, source: PolicySources.perturbation(of: rule))
            }
        }
        for index in 0..<24 {
            let policy = PruningPolicy(layers: (0..<blocks).map { _ in
                LayerPolicy(attentionRatio: Double.random(in: 0...0.5, using: &generator),
                            mlpRatio: Double.random(in: 0...0.5, using: &generator))
            })
            try add("random-\(index)", policy, source: "sampler:random")
        }
        return (samples, provenance, policies)
    }

    @Test func familyGroupingKeepsARuleAndItsPerturbationsInOneFoldAndReportsEveryKind() throws {
        let (samples, provenance, policies) = try Self.corpus()
        let hyperparameters = PredictorHyperparameters(ensembleSize: 2, seed: 3, maxEpochs: 60, patience: 15)
        let grouped = try PredictorValidation.run(samples: samples, provenance: provenance, policies: policies,
                                                  sensitivity: nil, folds: 3, grouping: .family,
                                                  hyperparameters: hyperparameters)
        #expect(grouped.groupCount == 3 + 24, "three rule families and the random singletons")
        let folds = grouped.validation.folds
        for (index, sample) in samples.enumerated() where sample.id.hasPrefix("front") {
            #expect(folds[index] == folds[samples.firstIndex { $0.id == "front-0.1" }!], "\(sample.id) left its family's fold")
        }
        #expect(grouped.rows.map(\.name) == ["all", "baseline", "perturbation", "random"])
        let all = try #require(grouped.rows.first)
        #expect(all.summary.metrics.count == samples.count)
        #expect(all.spread?.folds == 3)
        let within = try #require(all.withinRatio)
        #expect(within.pairs > 0 && within.strata > 1 && abs(within.kendallTauWithin) <= 1)
        #expect(grouped.additiveAlone == nil, "no sensitivity profile")
        let table = grouped.markdownTable()
        #expect(table.count == 2 + grouped.rows.count && table[2].hasPrefix("| all | \(samples.count) |"))

        let plain = try PredictorValidation.run(samples: samples, provenance: provenance, policies: policies,
                                                sensitivity: nil, folds: 3, grouping: .none, hyperparameters: hyperparameters)
        #expect(plain.groupCount == samples.count)
    }
}
