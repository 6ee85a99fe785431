import Foundation
import PPFTensor

// MARK: - AgentNetwork

/// The policy network: target ratio → mean of a Gaussian over the attention
/// and MLP logits (plus a learned, state-independent log standard deviation)
/// and, when drops are allowed, the logits of one Bernoulli drop per block
/// (their log-std entries are unused).
///
/// A small tanh MLP (`features → hidden… → actionCount`, linear output). The
/// input is the target ratio alone, encoded as `[x, x²]` with
/// `x = (r − centre) / halfWidth` over the training range; per-layer model
/// features are not inputs because for one model they are constants (the
/// output already has one unit per block and kind), see docs/agent.md.
///
/// All parameters live in one flat `Float` vector (weights row-major
/// `(out, in)` then bias, layer after layer, then the log-std), which keeps
/// Adam, serialization and equality trivial. Every matrix product goes
/// through `BLAS.gemm`.
public struct AgentNetwork: Codable, Sendable, Equatable {
    /// Layer widths, input first: `[features, hidden…, actionCount]`.
    public let widths: [Int]
    /// Centre of the ratio encoding (middle of the training range).
    public let ratioCentre: Double
    /// Half width of the ratio encoding (half the training range).
    public let ratioHalfWidth: Double
    /// Every weight and bias, then `actionCount` log-std entries.
    public internal(set) var parameters: [Float]

    /// Number of input features per ratio (`[x, x²]`).
    public static let featureCount = 2

    /// A freshly initialised network.
    ///
    /// Hidden layers use uniform Xavier initialisation; the output layer is
    /// scaled by 0.01 so the initial mean action is ≈ `outputBias` (zero: the
    /// near-uniform policy at every ratio) and the log-std starts at `initialLogStd`.
    ///
    /// - Parameter outputBias: initial output bias per action entry (empty
    ///   means all zero); the trainer starts drop logits below zero with it.
    public init(hiddenWidths: [Int], actionCount: Int, ratioRange: ClosedRange<Double>,
                initialLogStd: Double, outputBias: [Double] = [], seed: UInt64) throws(AgentError) {
        guard actionCount > 0, hiddenWidths.allSatisfy({ $0 > 0 }) else {
            throw AgentError(.invalidConfiguration, "network widths must be positive (hidden \(hiddenWidths), actions \(actionCount))")
        }
        guard outputBias.isEmpty || outputBias.count == actionCount, outputBias.allSatisfy(\.isFinite) else {
            throw AgentError(.invalidConfiguration, "output bias needs \(actionCount) finite entries, got \(outputBias.count)")
        }
        guard ratioRange.upperBound > ratioRange.lowerBound else {
            throw AgentError(.invalidConfiguration, "ratio range \(ratioRange) must not be empty")
        }
        widths = [Self.featureCount] + hiddenWidths + [actionCount]
        ratioCentre = (ratioRange.lowerBound + ratioRange.upperBound) / 2
        ratioHalfWidth = (ratioRange.upperBound - ratioRange.lowerBound) / 2
        var generator = SeededGenerator(seed: seed)
        var values: [Float] = []
        for layer in 0..<(widths.count - 1) {
            let (fanIn, fanOut) = (widths[layer], widths[layer + 1])
            let isOutput = layer == widths.count - 2
            let scale = Float(sqrt(6.0 / Double(fanIn + fanOut))) * (isOutput ? 0.01 : 1)
            for _ in 0..<(fanIn * fanOut) { values.append(generator.nextFloat(in: -scale...scale)) }
            if isOutput, !outputBias.isEmpty {
                values.append(contentsOf: outputBias.map(Float.init))
            } else {
                values.append(contentsOf: repeatElement(0, count: fanOut))
            }
        }
        values.append(contentsOf: repeatElement(Float(initialLogStd), count: actionCount))
        parameters = values
    }

    /// Decodes and checks that the parameter vector matches the widths.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        widths = try container.decode([Int].self, forKey: .widths)
        ratioCentre = try container.decode(Double.self, forKey: .ratioCentre)
        ratioHalfWidth = try container.decode(Double.self, forKey: .ratioHalfWidth)
        parameters = try container.decode([Float].self, forKey: .parameters)
        guard widths.count >= 2, widths.allSatisfy({ $0 > 0 }), widths[0] == Self.featureCount,
              ratioHalfWidth > 0, parameters.count == Self.parameterCount(widths: widths) else {
            throw AgentError(.invalidArtifact,
                             "network widths \(widths) do not match \(parameters.count) stored parameters")
        }
    }

    // MARK: - Layout

    /// Length of the action vector (the output width).
    public var actionCount: Int { widths[widths.count - 1] }

    private static func parameterCount(widths: [Int]) -> Int {
        zip(widths, widths.dropFirst()).reduce(0) { $0 + $1.0 * $1.1 + $1.1 } + (widths.last ?? 0)
    }

    /// Offsets of layer `layer`'s weight matrix and bias in ``parameters``.
    func offsets(ofLayer layer: Int) -> (weights: Int, bias: Int) {
        var offset = 0
        for index in 0..<layer { offset += widths[index] * widths[index + 1] + widths[index + 1] }
        return (offset, offset + widths[layer] * widths[layer + 1])
    }

    /// Offset of the log-std entries in ``parameters``.
    var logStdOffset: Int { parameters.count - actionCount }

    /// The learned log standard deviation per action entry.
    public var logStd: [Double] { parameters[logStdOffset...].map(Double.init) }

    // MARK: - Forward

    /// The encoded input row for one ratio.
    func features(ratio: Double) -> [Float] {
        let x = (ratio - ratioCentre) / ratioHalfWidth
        return [Float(x), Float(x * x)]
    }

    /// The activations a backward pass needs: the input and each layer's output.
    struct Activations {
        /// `activations[0]` is the input (n, features); the last is the mean action (n, actions).
        var layers: [Matrix]
        var output: Matrix { layers[layers.count - 1] }
    }

    /// Runs the network on a batch of ratios: (n) → (n, actionCount).
    func forward(ratios: [Double]) -> Activations {
        var input = Matrix(rows: ratios.count, cols: Self.featureCount)
        for (row, ratio) in ratios.enumerated() {
            for (column, value) in features(ratio: ratio).enumerated() { input[row, column] = value }
        }
        var layers = [input]
        for layer in 0..<(widths.count - 1) {
            let (fanIn, fanOut) = (widths[layer], widths[layer + 1])
            let (weightOffset, biasOffset) = offsets(ofLayer: layer)
            var next = Matrix(rows: ratios.count, cols: fanOut)
            next.withUnsafeMutableBufferPointer { out in
                // Start from the bias in every row, then add X · Wᵀ.
                for row in 0..<ratios.count {
                    for column in 0..<fanOut { out[row * fanOut + column] = parameters[biasOffset + column] }
                }
                guard ratios.count > 0 else { return }
                layers[layer].withUnsafeBufferPointer { x in
                    parameters.withUnsafeBufferPointer { p in
                        // (n, in) · (out, in)ᵀ -> (n, out)
                        BLAS.gemm(.none, .transposed, m: ratios.count, n: fanOut, k: fanIn,
                                  a: x.baseAddress!, lda: fanIn,
                                  b: p.baseAddress! + weightOffset, ldb: fanIn,
                                  beta: 1, c: out.baseAddress!, ldc: fanOut)
                    }
                }
                if layer < widths.count - 2 {
                    for index in out.indices { out[index] = tanh(out[index]) }
                }
            }
            layers.append(next)
        }
        return Activations(layers: layers)
    }

    /// The mean action for one ratio.
    public func meanAction(ratio: Double) -> [Double] {
        forward(ratios: [ratio]).output.row(0).map(Double.init)
    }

    // MARK: - Backward

    /// Gradients of a loss with respect to every weight and bias, given the
    /// loss gradient at the output (n, actionCount). The log-std part of the
    /// returned vector is zero; the trainer fills it.
    func backward(_ activations: Activations, outputGradient: Matrix) -> [Float] {
        var gradient = [Float](repeating: 0, count: parameters.count)
        var upstream = outputGradient
        let rows = outputGradient.rows
        guard rows > 0 else { return gradient }
        for layer in stride(from: widths.count - 2, through: 0, by: -1) {
            let (fanIn, fanOut) = (widths[layer], widths[layer + 1])
            let (weightOffset, biasOffset) = offsets(ofLayer: layer)
            let input = activations.layers[layer]
            gradient.withUnsafeMutableBufferPointer { g in
                upstream.withUnsafeBufferPointer { dy in
                    input.withUnsafeBufferPointer { x in
                        // dW = dYᵀ · X: (out, n) · (n, in) -> (out, in)
                        BLAS.gemm(.transposed, .none, m: fanOut, n: fanIn, k: rows,
                                  a: dy.baseAddress!, lda: fanOut, b: x.baseAddress!, ldb: fanIn,
                                  c: g.baseAddress! + weightOffset, ldc: fanIn)
                    }
                    for row in 0..<rows {
                        for column in 0..<fanOut { g[biasOffset + column] += dy[row * fanOut + column] }
                    }
                }
            }
            guard layer > 0 else { break }
            // dX = dY · W: (n, out) · (out, in) -> (n, in), then through tanh.
            var downstream = Matrix(rows: rows, cols: fanIn)
            downstream.withUnsafeMutableBufferPointer { dx in
                upstream.withUnsafeBufferPointer { dy in
                    parameters.withUnsafeBufferPointer { p in
                        BLAS.gemm(.none, .none, m: rows, n: fanIn, k: fanOut,
                                  a: dy.baseAddress!, lda: fanOut, b: p.baseAddress! + weightOffset, ldb: fanIn,
                                  c: dx.baseAddress!, ldc: fanIn)
                    }
                }
                input.withUnsafeBufferPointer { h in
                    for index in dx.indices { dx[index] *= 1 - h[index] * h[index] }
                }
            }
            upstream = downstream
        }
        return gradient
    }
}
