import Foundation
import PPFContracts

// MARK: - Prediction

/// The predicted performance of one policy: ensemble mean and spread, in
/// natural-log perplexity.
public struct Prediction: Sendable, Hashable, Codable {
    /// Mean of the members' predicted log-perplexities.
    public let logPerplexity: Double
    /// Standard deviation across members (population form, so a single member gives 0):
    /// the predictor's uncertainty, large where the members disagree, i.e. away from the training data.
    public let logPerplexityStd: Double

    /// Predicted perplexity, `exp(logPerplexity)`.
    public var perplexity: Double { Foundation.exp(logPerplexity) }
}

// MARK: - PerformancePredictor

/// The second-level performance predictor: an ensemble of convolutional
/// networks that maps a policy's features to its log-perplexity in
/// microseconds (arXiv 2508.02381, §3.2).
///
/// Train it with ``train(on:hyperparameters:)``, query it with
/// ``predict(_:)-([PolicyFeatures])``. It is a plain value: `Codable` (weights
/// are stored bit-exactly) and `Sendable`. Prediction runs synchronously on
/// the calling thread and calls `BLAS.gemm`; a service should call it from a
/// dedicated queue, not the cooperative pool.
public struct PerformancePredictor: Codable, Sendable, Hashable {
    /// The features this predictor reads.
    public let spec: FeatureSpec
    /// How it was trained.
    public let hyperparameters: PredictorHyperparameters
    /// Standardisation fitted on its training set.
    public let normalizer: FeatureNormalizer
    /// One weight vector per ensemble member.
    public let members: [NetworkParameters]
    /// How each member's training went.
    public let memberSummaries: [MemberTrainingSummary]
    /// The retained-importance curves behind the spec's importance channels
    /// (nil when the spec has none); travels with the weights so every caller
    /// featurises policies the way the training set was built.
    public private(set) var importanceProfile: ImportanceProfile?
    /// The measured one-block-at-a-time curves behind the spec's sensitivity
    /// channel and additive estimate (nil when the spec reads none). When the
    /// spec reads them the members predict the residual of the additive
    /// estimate, and ``predict(_:)-([PolicyFeatures])`` adds it back.
    public private(set) var sensitivityProfile: SensitivityProfile?

    /// Fewest measured policies `train` accepts: each member needs a
    /// validation fold of at least 2 and a training fold larger than that.
    public static let minimumTrainingSamples = 10

    /// Policies per forward pass when predicting a large batch: small enough that a pass's
    /// buffers stay in cache (64 was faster than 512 per policy), large enough for BLAS to amortise calls.
    static let predictionChunk = 64

    // MARK: Training

    /// Trains an ensemble on measured policies, seeded by
    /// `hyperparameters.seed`: the same data and seed give the same folds,
    /// resamples and initial weights, and the same network up to the
    /// rounding of BLAS kernels (which differ across CPUs and thread counts).
    ///
    /// Each member draws its own validation fold and bootstrap resample,
    /// trains with Adam on standardised log-perplexity, stops early when the
    /// validation loss has not improved for `patience` epochs and keeps its
    /// best weights.
    /// - Throws: `tooFewSamples`, `duplicateSampleId`, `invalidPerplexity`,
    ///   a spec mismatch between samples, or `invalidHyperparameter`.
    public static func train(
        on samples: [TrainingSample],
        hyperparameters: PredictorHyperparameters = PredictorHyperparameters()
    ) throws(PredictorError) -> PerformancePredictor {
        try hyperparameters.validate()
        let spec = try samples.validatedSpec(minimumCount: minimumTrainingSamples, purpose: "training a predictor")
        let features = samples.map(\.features)
        // With a sensitivity profile the members learn what the additive estimate misses.
        let targets = samples.map { $0.logPerplexity - $0.features.additiveOffset }
        let normalizer = FeatureNormalizer(fitting: features, targets: targets, spec: spec)
        let shape = try NetworkShape(architecture: hyperparameters.architecture, layerCount: spec.layerCount,
                                     inputChannels: spec.layerChannelCount, globalCount: spec.globalCount)
        let trainer = MemberTrainer(network: ConvolutionalNetwork(shape: shape), hyperparameters: hyperparameters,
                                    data: PreparedData(features: features, logPerplexities: targets,
                                                       normalizer: normalizer, spec: spec))
        var members: [NetworkParameters] = []
        var summaries: [MemberTrainingSummary] = []
        for member in 0..<hyperparameters.ensembleSize {
            let (parameters, summary) = trainer.train(seed: RandomStream.derivedSeed(hyperparameters.seed, UInt64(member)))
            members.append(parameters)
            summaries.append(summary)
        }
        return PerformancePredictor(spec: spec, hyperparameters: hyperparameters, normalizer: normalizer,
                                    members: members, memberSummaries: summaries)
    }

    private init(spec: FeatureSpec, hyperparameters: PredictorHyperparameters, normalizer: FeatureNormalizer,
                 members: [NetworkParameters], memberSummaries: [MemberTrainingSummary]) {
        self.spec = spec
        self.hyperparameters = hyperparameters
        self.normalizer = normalizer
        self.members = members
        self.memberSummaries = memberSummaries
    }

    // MARK: Prediction

    /// Predicts every policy of `batch` (one forward pass per member per chunk
    /// of 64 policies, so large batches run at BLAS speed). A policy's
    /// prediction does not depend on the others in its batch except in the
    /// last bits: BLAS picks kernels by matrix shape, so a batch of one and a
    /// batch of 64 may round differently (within fp32 precision).
    /// - Throws: `layerCountMismatch`, `channelCountMismatch`,
    ///   `globalCountMismatch` or `featureSpecMismatch` when a policy's
    ///   features were built for another spec.
    public func predict(_ batch: [PolicyFeatures]) throws(PredictorError) -> [Prediction] {
        for (index, features) in batch.enumerated() {
            try spec.requireSame(as: features.spec, what: "policy \(index) of the batch")
        }
        guard let shape = members.first?.shape, !batch.isEmpty else { return [] }
        let network = ConvolutionalNetwork(shape: shape)
        let pass = network.makePass(capacity: min(batch.count, Self.predictionChunk))
        let memberCount = Double(members.count)
        var predictions: [Prediction] = []
        predictions.reserveCapacity(batch.count)
        var sums = [Double](repeating: 0, count: pass.capacity)
        var squares = [Double](repeating: 0, count: pass.capacity)
        var start = 0
        while start < batch.count {
            let chunk = Array(batch[start..<min(batch.count, start + Self.predictionChunk)])
            let data = PreparedData(features: chunk, logPerplexities: nil, normalizer: normalizer, spec: spec)
            data.load(0..<chunk.count, into: pass, targets: nil)
            for index in 0..<chunk.count { sums[index] = 0; squares[index] = 0 }
            for member in members {
                member.values.withUnsafeBufferPointer { p in
                    guard let base = p.baseAddress else { return }
                    network.forward(pass, batch: chunk.count, parameters: base)
                }
                for index in 0..<chunk.count {
                    let value = normalizer.denormalizeTarget(Double(pass.output.pointer[index])) + chunk[index].additiveOffset
                    sums[index] += value
                    squares[index] += value * value
                }
            }
            for index in 0..<chunk.count {
                let mean = sums[index] / memberCount
                let variance = max(0, squares[index] / memberCount - mean * mean)
                predictions.append(Prediction(logPerplexity: mean, logPerplexityStd: variance.squareRoot()))
            }
            start += chunk.count
        }
        return predictions
    }

    /// Predicts one policy.
    public func predict(_ features: PolicyFeatures) throws(PredictorError) -> Prediction {
        // A one-element batch always yields exactly one prediction.
        try predict([features])[0]
    }

    // MARK: Policies

    /// The same predictor, featurising with `profile` (which must cover the spec's layers).
    public func attaching(_ profile: ImportanceProfile?) -> PerformancePredictor {
        var copy = self
        copy.importanceProfile = profile
        return copy
    }

    /// The same predictor, featurising with the sensitivity profile `sensitivity`.
    public func attaching(sensitivity: SensitivityProfile?) -> PerformancePredictor {
        var copy = self
        copy.sensitivityProfile = sensitivity
        return copy
    }

    /// Whether ``features(for:)`` can build every channel and global the spec
    /// reads from a policy alone (with the profiles it carries).
    public var featurisesPoliciesAlone: Bool {
        var known: Set<String> = []
        if importanceProfile != nil { known.formUnion(FeatureSpec.importanceChannels) }
        if sensitivityProfile != nil { known.insert(FeatureSpec.blockSensitivity) }
        let globals: Set<String> = sensitivityProfile != nil ? [FeatureSpec.additiveEstimate] : []
        return spec.extraLayerChannels.allSatisfy(known.contains) && spec.globalChannels.allSatisfy(globals.contains)
    }

    /// The features of `policy` as this predictor reads them.
    /// - Throws: `layerCountMismatch` for a policy of another model, `missingChannel` when the
    ///   spec reads a profile that is not attached.
    public func features(for policy: PruningPolicy) throws(PredictorError) -> PolicyFeatures {
        try PolicyFeatures(policy: policy, spec: spec, profile: importanceProfile, sensitivity: sensitivityProfile)
    }

    /// Predicts policies given as ratios (featurised with ``features(for:)``).
    public func predict(policies: [PruningPolicy]) throws(PredictorError) -> [Prediction] {
        var batch: [PolicyFeatures] = []
        batch.reserveCapacity(policies.count)
        for policy in policies { batch.append(try features(for: policy)) }
        return try predict(batch)
    }

    // MARK: Codable

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        spec = try container.decode(FeatureSpec.self, forKey: .spec)
        hyperparameters = try container.decode(PredictorHyperparameters.self, forKey: .hyperparameters)
        normalizer = try container.decode(FeatureNormalizer.self, forKey: .normalizer)
        members = try container.decode([NetworkParameters].self, forKey: .members)
        memberSummaries = try container.decode([MemberTrainingSummary].self, forKey: .memberSummaries)
        importanceProfile = try container.decodeIfPresent(ImportanceProfile.self, forKey: .importanceProfile)
        if spec.usesImportance, importanceProfile == nil {
            throw PredictorError(.invalidArtifact, "the predictor reads importance channels but carries no importance profile")
        }
        sensitivityProfile = try container.decodeIfPresent(SensitivityProfile.self, forKey: .sensitivityProfile)
        if spec.usesSensitivity, sensitivityProfile?.blocks.count != spec.layerCount {
            throw PredictorError(.invalidArtifact,
                                 "the predictor reads the sensitivity profile but carries none for its \(spec.layerCount) blocks")
        }
        try normalizer.validate(for: spec)
        let expected = try NetworkShape(architecture: hyperparameters.architecture, layerCount: spec.layerCount,
                                        inputChannels: spec.layerChannelCount, globalCount: spec.globalCount)
        guard !members.isEmpty, members.allSatisfy({ $0.shape == expected }) else {
            throw PredictorError(.invalidArtifact,
                                 "the predictor has \(members.count) members, and every member must have the shape its feature spec and architecture imply")
        }
    }
}
