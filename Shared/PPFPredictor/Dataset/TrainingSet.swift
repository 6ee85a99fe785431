import Foundation
import PPFContracts

/// One stored measurement with the policy it measured: what the store hands
/// the predictor (kept free of store types so every module can build sets).
public struct MeasuredSample: Sendable, Hashable {
    /// `measurements.id`.
    public var measurementId: Int64
    /// The measured policy's id.
    public var policyId: UUID
    /// Its per-layer ratios.
    public var policy: PruningPolicy
    /// The importance metric the measured plan used.
    public var metric: String
    /// The corpus split, token budget and window of the measurement.
    public var split: String
    public var tokenBudget: Int
    public var window: Int
    /// The measured perplexity.
    public var perplexity: Double

    /// Creates a sample.
    public init(measurementId: Int64, policyId: UUID, policy: PruningPolicy, metric: String, split: String,
                tokenBudget: Int, window: Int, perplexity: Double) {
        self.measurementId = measurementId
        self.policyId = policyId
        self.policy = policy
        self.metric = metric
        self.split = split
        self.tokenBudget = tokenBudget
        self.window = window
        self.perplexity = perplexity
    }
}

/// Turns stored measurements into the predictor's training samples.
///
/// Perplexities are only comparable on one split, token budget and window,
/// so a model's training set is its largest such *regime* (ties: the one
/// measured most recently). Within it, a policy measured more than once
/// (spot-checks repeat policies) is one sample at the mean log-perplexity,
/// and the features follow the model's block count (the most common one;
/// policies with another count are left out and counted).
public struct TrainingSet: Sendable {
    public let samples: [TrainingSample]
    /// Every measurement behind `samples`.
    public let measurementIds: [Int64]
    public let regime: MeasurementRegime
    /// Measurements of the model outside the regime or with another block count.
    public let leftOut: Int
    /// The importance profile the features were built with (nil: ratios only).
    public let profile: ImportanceProfile?
    /// The sensitivity profile read from the regime's one-block probes (nil
    /// when they do not cover the model, or when not asked for). Its probes
    /// are not among `samples`.
    public let sensitivity: SensitivityProfile?
    /// Policies that went into `sensitivity` instead of `samples`.
    public let probeCount: Int

    /// Builds the set, or nil when the model has no measurements.
    ///
    /// When `profiles` holds one for the regime's metric and block count, the
    /// features include the retained-importance channels. When
    /// `withSensitivity` is set and the regime's one-block probes cover the
    /// model (``SensitivityProfile/init(measured:layerCount:)``), the features
    /// include the sensitivity channel and additive estimate, and the probes
    /// build the profile rather than samples.
    /// - Throws: `PredictorError` when a stored policy cannot be turned into features.
    public init?(_ measured: [MeasuredSample], profiles: [ImportanceProfile] = [],
                 withSensitivity: Bool = true) throws(PredictorError) {
        func regime(_ item: MeasuredSample) -> MeasurementRegime {
            MeasurementRegime(metric: item.metric, split: item.split, tokenBudget: item.tokenBudget, window: item.window)
        }
        let byRegime = Dictionary(grouping: measured, by: regime)
        // Rows come ordered by id, so the last index of a regime says how recent it is.
        let lastSeen = Dictionary(measured.enumerated().map { (regime($0.element), $0.offset) }) { max($0, $1) }
        guard let chosen = byRegime.keys.max(by: {
            (byRegime[$0]?.count ?? 0, lastSeen[$0] ?? 0) < (byRegime[$1]?.count ?? 0, lastSeen[$1] ?? 0)
        }), let inRegime = byRegime[chosen] else { return nil }

        let layerCounts = Dictionary(grouping: inRegime, by: \.policy.layers.count).mapValues(\.count)
        guard let layerCount = layerCounts.max(by: { ($0.value, $0.key) < ($1.value, $1.key) })?.key else { return nil }
        let usable = inRegime.filter { $0.policy.layers.count == layerCount }
        let profile = profiles.first { $0.metric == chosen.metric && $0.layers.count == layerCount }

        // One policy per id, at its mean log-perplexity, in order of first measurement.
        var order: [UUID] = []
        var byPolicy: [UUID: [MeasuredSample]] = [:]
        for item in usable {
            if byPolicy[item.policyId] == nil { order.append(item.policyId) }
            byPolicy[item.policyId, default: []].append(item)
        }
        let policies: [(id: UUID, policy: PruningPolicy, logPerplexity: Double)] = order.compactMap { policyId in
            guard let group = byPolicy[policyId], let first = group.first else { return nil }
            return (policyId, first.policy, group.map { Foundation.log($0.perplexity) }.reduce(0, +) / Double(group.count))
        }
        let sensitivity = withSensitivity
            ? SensitivityProfile(measured: policies.map { ($0.policy, $0.logPerplexity) }, layerCount: layerCount) : nil
        var extraChannels = profile == nil ? [] : FeatureSpec.importanceChannels
        if sensitivity != nil { extraChannels.append(FeatureSpec.blockSensitivity) }
        let spec = try FeatureSpec(layerCount: layerCount, extraLayerChannels: extraChannels,
                                   globalChannels: sensitivity == nil ? [] : [FeatureSpec.additiveEstimate])
        var samples: [TrainingSample] = []
        var probes = 0
        for item in policies {
            if sensitivity != nil, SensitivityProfile.probe(item.policy) != nil {
                probes += 1
                continue
            }
            samples.append(TrainingSample(id: item.id.uuidString.lowercased(),
                                          features: try PolicyFeatures(policy: item.policy, spec: spec, profile: profile,
                                                                       sensitivity: sensitivity),
                                          perplexity: Foundation.exp(item.logPerplexity)))
        }
        self.samples = samples
        self.measurementIds = usable.map(\.measurementId)
        self.regime = chosen
        self.leftOut = measured.count - usable.count
        self.profile = profile
        self.sensitivity = sensitivity
        self.probeCount = probes
    }
}
