// MARK: - FeatureNormalizer

/// Per-channel standardisation fitted on a training set and stored with the
/// model: `(x − mean) / std` for every per-layer channel (pooled over layers
/// and samples) and every global, plus the same for the target log-perplexity.
///
/// The network trains on standardised values so its initialisation and
/// learning rate suit any model or ratio range; predictions are
/// de-standardised on the way out.
public struct FeatureNormalizer: Codable, Sendable, Hashable {
    /// Mean of each per-layer channel.
    public let layerMean: [Double]
    /// Standard deviation of each per-layer channel (1 where the channel is constant).
    public let layerStd: [Double]
    /// Mean of each global scalar.
    public let globalMean: [Double]
    /// Standard deviation of each global scalar (1 where it is constant).
    public let globalStd: [Double]
    /// Mean of the training targets (natural-log perplexity).
    public let targetMean: Double
    /// Standard deviation of the training targets (1 if they are all equal).
    public let targetStd: Double

    /// Below this a channel counts as constant: dividing by its tiny spread
    /// would blow up any unseen value.
    static let constantSpread = 1e-8

    /// Fits the statistics on `features` and their log-perplexity `targets`.
    init(fitting features: [PolicyFeatures], targets: [Double], spec: FeatureSpec) {
        let channels = spec.layerChannelCount
        var layerSum = [Double](repeating: 0, count: channels)
        var layerSquares = [Double](repeating: 0, count: channels)
        var globalSum = [Double](repeating: 0, count: spec.globalCount)
        var globalSquares = [Double](repeating: 0, count: spec.globalCount)
        for sample in features {
            for (index, value) in sample.layerValues.enumerated() {
                let v = Double(value)
                layerSum[index % channels] += v
                layerSquares[index % channels] += v * v
            }
            for (index, value) in sample.globalValues.enumerated() {
                let v = Double(value)
                globalSum[index] += v
                globalSquares[index] += v * v
            }
        }
        func moments(_ sum: [Double], _ squares: [Double], count: Double) -> ([Double], [Double]) {
            let mean = sum.map { $0 / count }
            let std = zip(squares, mean).map { square, m in
                let variance = max(0, square / count - m * m)
                return variance > Self.constantSpread * Self.constantSpread ? variance.squareRoot() : 1
            }
            return (mean, std)
        }
        (layerMean, layerStd) = moments(layerSum, layerSquares, count: Double(features.count * spec.layerCount))
        (globalMean, globalStd) = moments(globalSum, globalSquares, count: Double(features.count))
        let (tMean, tStd) = moments([targets.reduce(0, +)], [targets.reduce(0) { $0 + $1 * $1 }],
                                    count: Double(targets.count))
        targetMean = tMean[0]
        targetStd = tStd[0]
    }

    /// Checks the statistics fit `spec` (used when an artifact is decoded).
    func validate(for spec: FeatureSpec) throws(PredictorError) {
        guard layerMean.count == spec.layerChannelCount, layerStd.count == spec.layerChannelCount,
              globalMean.count == spec.globalCount, globalStd.count == spec.globalCount else {
            throw PredictorError(.invalidArtifact,
                                 "normalisation has \(layerMean.count)/\(layerStd.count) per-layer and \(globalMean.count)/\(globalStd.count) global entries; the feature spec needs \(spec.layerChannelCount) and \(spec.globalCount)")
        }
        let all = layerMean + layerStd + globalMean + globalStd + [targetMean, targetStd]
        guard all.allSatisfy(\.isFinite), (layerStd + globalStd + [targetStd]).allSatisfy({ $0 > 0 }) else {
            throw PredictorError(.invalidArtifact, "normalisation holds a non-finite mean or a non-positive spread")
        }
    }

    // MARK: Applying

    /// Writes the standardised per-layer features of `sample` into `layers`
    /// (layerCount × channels floats) and its globals into `globals`.
    func normalize(_ sample: PolicyFeatures, layers: UnsafeMutablePointer<Float>, globals: UnsafeMutablePointer<Float>) {
        let channels = layerMean.count
        for (index, value) in sample.layerValues.enumerated() {
            let channel = index % channels
            layers[index] = Float((Double(value) - layerMean[channel]) / layerStd[channel])
        }
        for (index, value) in sample.globalValues.enumerated() {
            globals[index] = Float((Double(value) - globalMean[index]) / globalStd[index])
        }
    }

    /// Standardised target.
    func normalizeTarget(_ logPerplexity: Double) -> Double { (logPerplexity - targetMean) / targetStd }

    /// Natural-log perplexity from a standardised network output.
    func denormalizeTarget(_ value: Double) -> Double { value * targetStd + targetMean }
}
