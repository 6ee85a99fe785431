import Foundation

// MARK: - ChannelStatistics

/// First and second moments of one linear layer's input, per input channel,
/// over every calibration token.
public struct ChannelStatistics: Codable, Sendable, Equatable {
    /// `E[x_j]` over tokens: FLAP's bias compensation folds `W[:, j]·E[x_j]` into the bias.
    public let mean: PackedFloats
    /// `E[(x_j − E[x_j])²]` (population variance): FLAP's fluctuation.
    public let variance: PackedFloats
    /// `Σ_t x_tj²`, i.e. `‖X_j‖₂²`: Wanda's input norm, squared.
    public let squaredNorm: PackedFloats

    /// Groups the three per-channel vectors, which must have equal lengths.
    public init(mean: [Float], variance: [Float], squaredNorm: [Float]) {
        precondition(mean.count == variance.count && mean.count == squaredNorm.count,
                     "channel statistics need one value per channel in every vector")
        self.mean = PackedFloats(mean)
        self.variance = PackedFloats(variance)
        self.squaredNorm = PackedFloats(squaredNorm)
    }

    /// Number of input channels.
    public var channels: Int { mean.values.count }

    /// `‖X_j‖₂` per channel.
    public var norm: [Float] { squaredNorm.values.map { $0.squareRoot() } }
}

// MARK: - LayerStatistics

/// What calibration saw in one block.
public struct LayerStatistics: Codable, Sendable, Equatable {
    /// Input of q/k/v (the attention-normed residual), d channels; `nil` without attention.
    public let attentionInput: ChannelStatistics?
    /// Input of the output projection (concatenated head outputs), q·hd channels.
    public let attentionOutputInput: ChannelStatistics?
    /// Input of gate/up (the MLP-normed residual), d channels; `nil` without an MLP.
    public let mlpInput: ChannelStatistics?
    /// Input of the down projection (SwiGLU output), ff channels.
    public let downInput: ChannelStatistics?
    /// ShortGPT's Block Influence: `1 − mean_t cos(x_in,t, x_out,t)` over tokens
    /// (Men et al. 2024, "ShortGPT: Layers in Large Language Models are More Redundant Than You Expect", eq. 1).
    public let blockInfluence: Double

    /// Groups one block's statistics.
    public init(attentionInput: ChannelStatistics?, attentionOutputInput: ChannelStatistics?,
                mlpInput: ChannelStatistics?, downInput: ChannelStatistics?, blockInfluence: Double) {
        self.attentionInput = attentionInput
        self.attentionOutputInput = attentionOutputInput
        self.mlpInput = mlpInput
        self.downInput = downInput
        self.blockInfluence = blockInfluence
    }

    /// Per query head, `‖O_h‖₂` over all tokens: the norm of the head's output
    /// slice (head h owns output-projection input channels h·hd ..< (h+1)·hd).
    public func headOutputNorms(headDimension: Int) -> [Double] {
        guard let stats = attentionOutputInput, headDimension > 0 else { return [] }
        let squares = stats.squaredNorm.values
        return stride(from: 0, to: squares.count, by: headDimension).map { start in
            squares[start ..< min(squares.count, start + headDimension)].reduce(0.0) { $0 + Double($1) }.squareRoot()
        }
    }
}

// MARK: - CalibrationStatistics

/// Per-block activation statistics of one model on one calibration spec:
/// enough for every importance metric (magnitude needs none, Wanda-sp the
/// input norms, FLAP the variances and means) and every baseline (OWL the
/// input norms, ShortGPT the Block Influence).
///
/// Compact by design (floats are packed, see `PackedFloats`) so the pruner
/// service can keep it in Postgres as one JSON value.
public struct CalibrationStatistics: Codable, Sendable, Equatable {
    /// Bumped when the meaning or layout of a field changes; older caches are then recomputed.
    public static let currentFormatVersion = 1

    /// The format of this value.
    public let formatVersion: Int
    /// SHA-256 of the model file (or another caller-chosen model fingerprint).
    public let modelChecksum: String
    /// SHA-256 of the calibration split's text.
    public let corpusChecksum: String
    /// What was run.
    public let spec: CalibrationSpec
    /// Tokens actually run through the model.
    public let tokens: Int
    /// Wall-clock seconds the collection took (a cache hit reports the original run's time).
    public let seconds: Double
    /// One entry per block, in block order.
    public let layers: [LayerStatistics]

    /// Groups a calibration run's results.
    public init(modelChecksum: String, corpusChecksum: String, spec: CalibrationSpec, tokens: Int,
                seconds: Double, layers: [LayerStatistics], formatVersion: Int = Self.currentFormatVersion) {
        self.formatVersion = formatVersion
        self.modelChecksum = modelChecksum
        self.corpusChecksum = corpusChecksum
        self.spec = spec
        self.tokens = tokens
        self.seconds = seconds
        self.layers = layers
    }

    /// Block Influence of every block, in order.
    public var blockInfluences: [Double] { layers.map(\.blockInfluence) }
}
