// MARK: - PreparedData

/// Samples standardised once into contiguous arrays, so mini-batches are row copies.
struct PreparedData {
    /// Number of samples.
    let count: Int
    /// Floats per sample of per-layer features (L · C).
    let layerStride: Int
    /// Globals per sample (G).
    let globalStride: Int
    /// (N, L·C) standardised per-layer features.
    let layers: [Float]
    /// (N, G) standardised globals.
    let globals: [Float]
    /// (N) standardised log-perplexities (zeros when preparing for prediction).
    let targets: [Float]

    /// Standardises `features` (and `logPerplexities` when given) with `normalizer`.
    init(features: [PolicyFeatures], logPerplexities: [Double]?, normalizer: FeatureNormalizer, spec: FeatureSpec) {
        count = features.count
        let layerStride = spec.layerCount * spec.layerChannelCount
        let globalStride = spec.globalCount
        self.layerStride = layerStride
        self.globalStride = globalStride
        var layers = [Float](repeating: 0, count: count * layerStride)
        var globals = [Float](repeating: 0, count: count * globalStride)
        layers.withUnsafeMutableBufferPointer { l in
            globals.withUnsafeMutableBufferPointer { g in
                for (index, sample) in features.enumerated() {
                    // baseAddress is nil only for empty buffers; strides then are 0 and nothing is written.
                    guard let lBase = l.baseAddress else { continue }
                    let gBase = g.baseAddress ?? lBase
                    normalizer.normalize(sample, layers: lBase + index * layerStride,
                                         globals: globalStride > 0 ? gBase + index * globalStride : gBase)
                }
            }
        }
        self.layers = layers
        self.globals = globals
        targets = (logPerplexities ?? [Double](repeating: normalizer.targetMean, count: count))
            .map { Float(normalizer.normalizeTarget($0)) }
    }

    /// Copies the samples at `indices` into the pass's input buffers (and their
    /// targets into `targets`), in order.
    func load<C: Collection<Int>>(_ indices: C, into pass: ConvolutionalNetwork.Pass, targets: UnsafeMutablePointer<Float>?) {
        layers.withUnsafeBufferPointer { l in
            globals.withUnsafeBufferPointer { g in
                for (slot, index) in indices.enumerated() {
                    if let source = l.baseAddress {
                        (pass.input.pointer + slot * layerStride).update(from: source + index * layerStride, count: layerStride)
                    }
                    if globalStride > 0, let source = g.baseAddress {
                        (pass.globals.pointer + slot * globalStride).update(from: source + index * globalStride, count: globalStride)
                    }
                    targets?[slot] = self.targets[index]
                }
            }
        }
    }
}
