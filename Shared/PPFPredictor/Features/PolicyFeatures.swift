import PPFContracts

// MARK: - PolicyFeatures

/// One policy as the predictor sees it: a [layers × channels] feature sequence
/// plus global scalars, laid out as its `FeatureSpec` says.
///
/// Build it from a `PruningPolicy` (the built-in channels are derived from the
/// policy, extra channels and globals are passed by name), or from raw rows
/// when the caller already has every channel. Values are raw (not normalised);
/// the trained predictor normalises them with statistics fitted on its
/// training set.
public struct PolicyFeatures: Sendable, Hashable {
    /// The layout these values follow.
    public let spec: FeatureSpec
    /// Per-layer values, row-major: `layerValues[layer * spec.layerChannelCount + channel]`.
    public let layerValues: [Float]
    /// Global scalars, in `spec.globalChannels` order.
    public let globalValues: [Float]

    // MARK: From a policy

    /// Features of `policy`: the built-in channels from its ratios, extra
    /// per-layer channels and globals looked up by name.
    ///
    /// - Parameters:
    ///   - extraLayerChannels: one array of `spec.layerCount` values per name in
    ///     `spec.extraLayerChannels` (e.g. `["importanceKept": [...]]`).
    ///   - globals: one value per name in `spec.globalChannels` (e.g. `["achievedRatio": 0.31]`).
    /// - Throws: `layerCountMismatch` when the policy or an extra channel has the
    ///   wrong length, `missingChannel` / `unknownChannel` for names, and
    ///   `ratioOutOfRange` / `nonFiniteValue` for bad numbers.
    public init(
        policy: PruningPolicy,
        spec: FeatureSpec,
        extraLayerChannels: [String: [Double]] = [:],
        globals: [String: Double] = [:]
    ) throws(PredictorError) {
        guard policy.layers.count == spec.layerCount else {
            throw PredictorError(.layerCountMismatch,
                                 "the policy has \(policy.layers.count) layers but the feature spec expects \(spec.layerCount)")
        }
        for name in extraLayerChannels.keys.sorted() where !spec.extraLayerChannels.contains(name) {
            throw PredictorError(.unknownChannel,
                                 "per-layer channel '\(name)' is not in the feature spec's extra channels \(spec.extraLayerChannels)")
        }
        for name in globals.keys.sorted() where !spec.globalChannels.contains(name) {
            throw PredictorError(.unknownChannel,
                                 "global '\(name)' is not in the feature spec's globals \(spec.globalChannels)")
        }
        var extraColumns: [[Double]] = []
        for name in spec.extraLayerChannels {
            guard let column = extraLayerChannels[name] else {
                throw PredictorError(.missingChannel, "per-layer channel '\(name)' was not supplied")
            }
            guard column.count == spec.layerCount else {
                throw PredictorError(.layerCountMismatch,
                                     "per-layer channel '\(name)' has \(column.count) values but the feature spec expects \(spec.layerCount) layers")
            }
            extraColumns.append(column)
        }
        var globalRow: [Double] = []
        for name in spec.globalChannels {
            guard let value = globals[name] else {
                throw PredictorError(.missingChannel, "global '\(name)' was not supplied")
            }
            globalRow.append(value)
        }

        var rows: [[Double]] = []
        rows.reserveCapacity(spec.layerCount)
        for (index, layer) in policy.layers.enumerated() {
            for (label, ratio) in [("attention", layer.attentionRatio), ("MLP", layer.mlpRatio)]
                where !(0...1).contains(ratio) {
                throw PredictorError(.ratioOutOfRange,
                                     "layer \(index) has \(label) ratio \(ratio); ratios must lie in [0, 1]")
            }
            // A dropped block keeps nothing, whatever its ratios say.
            let attentionKeep = layer.dropped ? 0 : 1 - layer.attentionRatio
            let mlpKeep = layer.dropped ? 0 : 1 - layer.mlpRatio
            let depth = spec.layerCount > 1 ? Double(index) / Double(spec.layerCount - 1) : 0
            rows.append([attentionKeep, mlpKeep, layer.dropped ? 1 : 0, depth] + extraColumns.map { $0[index] })
        }
        try self.init(spec: spec, layerValues: rows, globalValues: globalRow)
    }

    // MARK: From raw values

    /// Features from raw rows: `layerValues[layer][channel]` in `spec.layerChannels`
    /// order (built-in channels first) and globals in `spec.globalChannels` order.
    ///
    /// - Throws: `layerCountMismatch`, `channelCountMismatch`, `globalCountMismatch`
    ///   for wrong shapes, `nonFiniteValue` for NaN or infinity.
    public init(spec: FeatureSpec, layerValues: [[Double]], globalValues: [Double]) throws(PredictorError) {
        guard layerValues.count == spec.layerCount else {
            throw PredictorError(.layerCountMismatch,
                                 "got \(layerValues.count) layers of features but the feature spec expects \(spec.layerCount)")
        }
        let channels = spec.layerChannelCount
        var flat: [Float] = []
        flat.reserveCapacity(spec.layerCount * channels)
        for (layer, row) in layerValues.enumerated() {
            guard row.count == channels else {
                throw PredictorError(.channelCountMismatch,
                                     "layer \(layer) has \(row.count) channels but the feature spec expects \(channels) \(spec.layerChannels)")
            }
            for (channel, value) in row.enumerated() {
                guard value.isFinite else {
                    throw PredictorError(.nonFiniteValue,
                                         "layer \(layer) channel '\(spec.layerChannels[channel])' is \(value)")
                }
                flat.append(Float(value))
            }
        }
        guard globalValues.count == spec.globalCount else {
            throw PredictorError(.globalCountMismatch,
                                 "got \(globalValues.count) global scalars but the feature spec expects \(spec.globalCount) \(spec.globalChannels)")
        }
        for (index, value) in globalValues.enumerated() where !value.isFinite {
            throw PredictorError(.nonFiniteValue, "global '\(spec.globalChannels[index])' is \(value)")
        }
        self.spec = spec
        self.layerValues = flat
        self.globalValues = globalValues.map(Float.init)
    }

    /// The value of `channel` (a column index into `spec.layerChannels`) at `layer`.
    public subscript(layer: Int, channel: Int) -> Float {
        layerValues[layer * spec.layerChannelCount + channel]
    }

    /// The value of the named per-layer channel at `layer`, or nil for an unknown name.
    public func value(_ channel: String, layer: Int) -> Float? {
        guard let column = spec.layerChannels.firstIndex(of: channel) else { return nil }
        return self[layer, column]
    }

    /// The named global scalar, or nil for an unknown name.
    public func global(_ name: String) -> Float? {
        spec.globalChannels.firstIndex(of: name).map { globalValues[$0] }
    }
}

// MARK: - With the model's profiles

extension PolicyFeatures {
    /// Features of `policy` for `spec`, filling the importance channels from
    /// `profile` and the sensitivity channel and global from `sensitivity`
    /// when the spec reads them.
    /// - Throws: `missingChannel` when the spec reads a profile that is nil,
    ///   `layerCountMismatch` when a profile covers another model.
    public init(policy: PruningPolicy, spec: FeatureSpec, profile: ImportanceProfile?,
                sensitivity: SensitivityProfile? = nil) throws(PredictorError) {
        var channels: [String: [Double]] = [:]
        var globals: [String: Double] = [:]
        if spec.usesImportance {
            guard let profile else {
                throw PredictorError(.missingChannel, "the feature spec reads importance channels but no importance profile was given")
            }
            let retained: (attention: [Double], mlp: [Double])
            do {
                retained = try profile.retained(by: policy)
            } catch {
                throw PredictorError(.layerCountMismatch, "\(error)")
            }
            channels[FeatureSpec.attentionImportanceKept] = retained.attention
            channels[FeatureSpec.mlpImportanceKept] = retained.mlp
        }
        if spec.usesSensitivity {
            guard let sensitivity else {
                throw PredictorError(.missingChannel, "the feature spec reads the sensitivity profile but none was given")
            }
            let rises = try sensitivity.blockRises(policy)
            channels[FeatureSpec.blockSensitivity] = rises
            globals[FeatureSpec.additiveEstimate] = rises.reduce(0, +)
        }
        try self.init(policy: policy, spec: spec, extraLayerChannels: channels, globals: globals)
    }

    /// The additive estimate's part of the log-perplexity (0 when the spec
    /// does not read a sensitivity profile): what the network's residual is added to.
    var additiveOffset: Double {
        spec.usesSensitivity ? Double(global(FeatureSpec.additiveEstimate) ?? 0) : 0
    }
}
