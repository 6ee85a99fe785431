import Foundation
import PPFTensor

// MARK: - ConvolutionalNetwork

/// The predictor network, forward and backward, written out by hand over
/// `BLAS.gemm` (design: "the predictor, in Swift over OpenBLAS").
///
/// Shapes, for a batch of B policies with L layers, C input channels, G
/// globals, convolution widths c₁…cₙ (c₀ = C), kernel k and head width H:
///
///     x        (B·L, C)          standardised per-layer features
///     colᵢ     (B·L, k·cᵢ₋₁)     im2col of aᵢ₋₁ (same padding with zeros)
///     zᵢ       (B·L, cᵢ)         colᵢ · Wᵢᵀ + bᵢ,   Wᵢ (cᵢ, k·cᵢ₋₁)
///     aᵢ       (B·L, cᵢ)         act(zᵢ)
///     pooled   (B, 2·cₙ + G)     [Σₗ αₗ ⊙ aₙ(l) | max over layers of aₙ | globals]
///                                α (L, cₙ) learned depth weights (or the plain mean, αₗ = 1/L)
///     zₕ       (B, H)            pooled · Wₕᵀ + bₕ
///     aₕ       (B, H)            act(zₕ)
///     output   (B, 1)            aₕ · Wₒᵀ + bₒ      standardised log-perplexity
///
/// The convolution as im2col + one gemm is the usual lowering (Chellapilla
/// et al. 2006); it turns the whole batch into a single BLAS call per layer.
struct ConvolutionalNetwork {
    /// Sizes and parameter layout.
    let shape: NetworkShape
    /// `shape.tensors`, computed once.
    private let tensors: [NetworkShape.Tensor]

    init(shape: NetworkShape) {
        self.shape = shape
        tensors = shape.tensors
    }

    private var convolutionCount: Int { shape.architecture.convolutionChannels.count }
    private var kernel: Int { shape.architecture.kernelSize }
    private var headWidth: Int { shape.architecture.headWidth }
    /// Input channels of convolution `index` (c₀ = C).
    private func inChannels(_ index: Int) -> Int {
        index == 0 ? shape.inputChannels : shape.architecture.convolutionChannels[index - 1]
    }
    private func outChannels(_ index: Int) -> Int { shape.architecture.convolutionChannels[index] }
    private func convWeight(_ index: Int) -> NetworkShape.Tensor { tensors[2 * index] }
    private func convBias(_ index: Int) -> NetworkShape.Tensor { tensors[2 * index + 1] }
    private var depthWeighted: Bool { shape.architecture.depthWeightedPooling }
    /// (L, cₙ) pooling weights; only when `depthWeighted`.
    private var depthWeight: NetworkShape.Tensor { tensors[2 * convolutionCount] }
    private var headStart: Int { 2 * convolutionCount + (depthWeighted ? 1 : 0) }
    private var hiddenWeight: NetworkShape.Tensor { tensors[headStart] }
    private var hiddenBias: NetworkShape.Tensor { tensors[headStart + 1] }
    private var outputWeight: NetworkShape.Tensor { tensors[headStart + 2] }
    private var outputBias: NetworkShape.Tensor { tensors[headStart + 3] }

    // MARK: - Pass

    /// Every buffer one forward + backward pass needs, for up to `capacity`
    /// policies. Reused across mini-batches; the caller fills `input` and
    /// `globals` before `forward`.
    final class Pass {
        /// Largest batch this pass holds.
        let capacity: Int
        /// (B·L, C) standardised per-layer features.
        let input: FloatBuffer
        /// (B, G) standardised globals.
        let globals: FloatBuffer
        /// Per convolution: im2col of its input, (B·L, k·cᵢ₋₁).
        let columns: [FloatBuffer]
        /// Per convolution: pre-activation zᵢ, (B·L, cᵢ).
        let preActivations: [FloatBuffer]
        /// Per convolution: activation aᵢ, (B·L, cᵢ).
        let activations: [FloatBuffer]
        /// Per convolution: the activation's gate at zᵢ, kept for the backward pass.
        let gates: [FloatBuffer]
        /// Layer index of each max over layers, (B, cₙ).
        let argmax: IndexBuffer
        /// (B, 2·cₙ + G).
        let pooled: FloatBuffer
        /// (B, H) before and after the activation.
        let hiddenPre: FloatBuffer
        let hidden: FloatBuffer
        /// The activation's gate at zₕ.
        let hiddenGate: FloatBuffer
        /// (B) standardised predictions.
        let output: FloatBuffer
        // Backward scratch.
        let activationGradient: FloatBuffer
        let columnGradient: FloatBuffer
        let pooledGradient: FloatBuffer
        let hiddenGradient: FloatBuffer

        init(network: ConvolutionalNetwork, capacity: Int) {
            let shape = network.shape
            let rows = capacity * shape.layerCount
            self.capacity = capacity
            input = FloatBuffer(count: rows * shape.inputChannels)
            globals = FloatBuffer(count: capacity * shape.globalCount)
            let convolutions = 0..<network.convolutionCount
            columns = convolutions.map { FloatBuffer(count: rows * network.kernel * network.inChannels($0)) }
            preActivations = convolutions.map { FloatBuffer(count: rows * network.outChannels($0)) }
            activations = convolutions.map { FloatBuffer(count: rows * network.outChannels($0)) }
            gates = convolutions.map { FloatBuffer(count: rows * network.outChannels($0)) }
            argmax = IndexBuffer(count: capacity * shape.finalChannels)
            pooled = FloatBuffer(count: capacity * shape.pooledWidth)
            hiddenPre = FloatBuffer(count: capacity * network.headWidth)
            hidden = FloatBuffer(count: capacity * network.headWidth)
            hiddenGate = FloatBuffer(count: capacity * network.headWidth)
            output = FloatBuffer(count: capacity)
            let widest = ([shape.inputChannels] + shape.architecture.convolutionChannels).max() ?? 1
            activationGradient = FloatBuffer(count: rows * widest)
            columnGradient = FloatBuffer(count: rows * network.kernel * widest)
            pooledGradient = FloatBuffer(count: capacity * shape.pooledWidth)
            hiddenGradient = FloatBuffer(count: capacity * network.headWidth)
        }
    }

    /// Buffers for batches of up to `capacity` policies.
    func makePass(capacity: Int) -> Pass { Pass(network: self, capacity: max(1, capacity)) }

    // MARK: - Forward

    /// Runs the network on the first `batch` policies of `pass.input` / `pass.globals`;
    /// predictions land in `pass.output`, intermediate values stay for `backward`.
    func forward(_ pass: Pass, batch: Int, parameters: UnsafePointer<Float>) {
        precondition(batch <= pass.capacity, "batch exceeds the pass capacity")
        let layers = shape.layerCount
        let rows = batch * layers
        var source = UnsafePointer(pass.input.pointer)
        for index in 0..<convolutionCount {
            let cin = inChannels(index), cout = outChannels(index), width = kernel * cin
            let columns = pass.columns[index].pointer
            Self.im2col(source, channels: cin, batch: batch, layers: layers, kernel: kernel, into: columns)
            // (B·L, k·cin) @ (k·cin, cout) + bias -> (B·L, cout)
            let z = pass.preActivations[index].pointer
            Self.broadcastRows(parameters + convBias(index).offset, rows: rows, cols: cout, into: z)
            BLAS.gemm(.none, .transposed, m: rows, n: cout, k: width,
                      a: columns, lda: width, b: parameters + convWeight(index).offset, ldb: width,
                      beta: 1, c: z, ldc: cout)
            let a = pass.activations[index].pointer
            Self.activate(shape.architecture.activation, z, into: a, gate: pass.gates[index].pointer, count: rows * cout)
            source = UnsafePointer(a)
        }

        // Pool over layers: (B·L, cₙ) -> (B, 2·cₙ) as [weighted sum with α (L, cₙ) | max], then
        // append the globals -> (B, 2·cₙ + G).
        let final = shape.finalChannels, width = shape.pooledWidth, globalCount = shape.globalCount
        let pooled = pass.pooled.pointer
        let alpha = depthWeighted ? parameters + depthWeight.offset : nil
        let mean = 1 / Float(layers)
        do {
            for b in 0..<batch {
                // Layer-major so the inner loop runs over contiguous channels.
                let row = pooled + b * width
                let best = row + final
                let bestLayer = pass.argmax.pointer + b * final
                row.update(repeating: 0, count: final)
                best.update(repeating: -Float.infinity, count: final)
                bestLayer.update(repeating: 0, count: final)
                for layer in 0..<layers {
                    let values = source + (b * layers + layer) * final
                    let weights = alpha.map { $0 + layer * final }
                    for channel in 0..<final {
                        let value = values[channel]
                        row[channel] += (weights?[channel] ?? mean) * value
                        if value > best[channel] { best[channel] = value; bestLayer[channel] = Int32(truncatingIfNeeded: layer) }
                    }
                }
                for g in 0..<globalCount { row[2 * final + g] = pass.globals.pointer[b * globalCount + g] }
            }
        }

        // Head: (B, P) @ (P, H) + bias -> act -> (B, H) @ (H, 1) + bias -> (B, 1).
        Self.broadcastRows(parameters + hiddenBias.offset, rows: batch, cols: headWidth, into: pass.hiddenPre.pointer)
        BLAS.gemm(.none, .transposed, m: batch, n: headWidth, k: width,
                  a: pooled, lda: width, b: parameters + hiddenWeight.offset, ldb: width,
                  beta: 1, c: pass.hiddenPre.pointer, ldc: headWidth)
        Self.activate(shape.architecture.activation, pass.hiddenPre.pointer, into: pass.hidden.pointer,
                      gate: pass.hiddenGate.pointer, count: batch * headWidth)
        Self.broadcastRows(parameters + outputBias.offset, rows: batch, cols: 1, into: pass.output.pointer)
        BLAS.gemm(.none, .transposed, m: batch, n: 1, k: headWidth,
                  a: pass.hidden.pointer, lda: headWidth, b: parameters + outputWeight.offset, ldb: headWidth,
                  beta: 1, c: pass.output.pointer, ldc: 1)
    }

    // MARK: - Backward

    /// Gradients of a loss with respect to every parameter, given ∂loss/∂output
    /// for each of the `batch` policies of the last `forward` on `pass`.
    /// Overwrites `gradient` (laid out like the parameters).
    func backward(_ pass: Pass, batch: Int, parameters: UnsafePointer<Float>,
                  outputGradient: UnsafePointer<Float>, into gradient: UnsafeMutablePointer<Float>) {
        let layers = shape.layerCount
        let rows = batch * layers
        let activation = shape.architecture.activation
        let width = shape.pooledWidth, final = shape.finalChannels

        // Output layer: dWₒ (1, H) = dOutᵀ (1, B) @ aₕ (B, H); dbₒ = Σ dOut; daₕ (B, H) = dOut (B, 1) @ Wₒ (1, H).
        BLAS.gemm(.transposed, .none, m: 1, n: headWidth, k: batch,
                  a: outputGradient, lda: 1, b: pass.hidden.pointer, ldb: headWidth,
                  c: gradient + outputWeight.offset, ldc: headWidth)
        Self.columnSums(outputGradient, rows: batch, cols: 1, into: gradient + outputBias.offset)
        let dHidden = pass.hiddenGradient.pointer
        BLAS.gemm(.none, .none, m: batch, n: headWidth, k: 1,
                  a: outputGradient, lda: 1, b: parameters + outputWeight.offset, ldb: headWidth,
                  c: dHidden, ldc: headWidth)
        Self.multiplyByDerivative(activation, of: pass.hiddenPre.pointer, gate: pass.hiddenGate.pointer,
                                  gradient: dHidden, count: batch * headWidth)

        // Hidden layer: dWₕ (H, P) = dzₕᵀ (H, B) @ pooled (B, P); dpooled (B, P) = dzₕ (B, H) @ Wₕ (H, P).
        BLAS.gemm(.transposed, .none, m: headWidth, n: width, k: batch,
                  a: dHidden, lda: headWidth, b: pass.pooled.pointer, ldb: width,
                  c: gradient + hiddenWeight.offset, ldc: width)
        Self.columnSums(dHidden, rows: batch, cols: headWidth, into: gradient + hiddenBias.offset)
        let dPooled = pass.pooledGradient.pointer
        BLAS.gemm(.none, .none, m: batch, n: width, k: headWidth,
                  a: dHidden, lda: headWidth, b: parameters + hiddenWeight.offset, ldb: width,
                  c: dPooled, ldc: width)

        // Unpool: the weighted sum spreads αₗ (or 1/L) to every layer, the max routes to its
        // argmax layer; dα (L, cₙ) = Σ_b aₙ(b, l) ⊙ dpooled(b).
        // (The globals' share of dpooled is dropped: inputs are not trained.)
        let dA = pass.activationGradient.pointer
        let finalActivations = pass.activations[convolutionCount - 1].pointer
        let alpha = depthWeighted ? parameters + depthWeight.offset : nil
        let alphaGradient = depthWeighted ? gradient + depthWeight.offset : nil
        alphaGradient?.update(repeating: 0, count: layers * final)
        let mean = 1 / Float(layers)
        do {
            let argmax = pass.argmax.pointer
            for b in 0..<batch {
                for layer in 0..<layers {
                    let row = dA + (b * layers + layer) * final
                    let activations = finalActivations + (b * layers + layer) * final
                    for channel in 0..<final {
                        let upstream = dPooled[b * width + channel]
                        row[channel] = upstream * (alpha?[layer * final + channel] ?? mean)
                        alphaGradient?[layer * final + channel] += upstream * activations[channel]
                    }
                }
                for channel in 0..<final {
                    let layer = Int(argmax[b * final + channel])
                    dA[(b * layers + layer) * final + channel] += dPooled[b * width + final + channel]
                }
            }
        }

        // Convolutions, last to first. dA holds ∂loss/∂aᵢ on entry to each step.
        for index in stride(from: convolutionCount - 1, through: 0, by: -1) {
            let cin = inChannels(index), cout = outChannels(index), convWidth = kernel * cin
            // dzᵢ = daᵢ ⊙ act'(zᵢ), in place.
            Self.multiplyByDerivative(activation, of: pass.preActivations[index].pointer, gate: pass.gates[index].pointer,
                                      gradient: dA, count: rows * cout)
            // dWᵢ (cout, k·cin) = dzᵢᵀ (cout, B·L) @ colᵢ (B·L, k·cin); dbᵢ = column sums of dzᵢ.
            BLAS.gemm(.transposed, .none, m: cout, n: convWidth, k: rows,
                      a: dA, lda: cout, b: pass.columns[index].pointer, ldb: convWidth,
                      c: gradient + convWeight(index).offset, ldc: convWidth)
            Self.columnSums(dA, rows: rows, cols: cout, into: gradient + convBias(index).offset)
            guard index > 0 else { break }
            // dcol (B·L, k·cin) = dzᵢ (B·L, cout) @ Wᵢ (cout, k·cin), then col2im -> daᵢ₋₁ (B·L, cin).
            let dColumns = pass.columnGradient.pointer
            BLAS.gemm(.none, .none, m: rows, n: convWidth, k: cout,
                      a: dA, lda: cout, b: parameters + convWeight(index).offset, ldb: convWidth,
                      c: dColumns, ldc: convWidth)
            Self.col2im(dColumns, channels: cin, batch: batch, layers: layers, kernel: kernel, into: dA)
        }
    }

    // MARK: - Kernels

    /// Lays out every layer's k-neighbourhood as one row: row (b, l) of `columns`
    /// is `[x(b, l − k/2) | … | x(b, l + k/2)]`, zeros beyond either end.
    static func im2col(_ x: UnsafePointer<Float>, channels: Int, batch: Int, layers: Int, kernel: Int,
                       into columns: UnsafeMutablePointer<Float>) {
        let half = kernel / 2, width = kernel * channels
        for b in 0..<batch {
            for layer in 0..<layers {
                let row = columns + (b * layers + layer) * width
                for tap in 0..<kernel {
                    let target = row + tap * channels
                    let sourceLayer = layer + tap - half
                    if sourceLayer >= 0 && sourceLayer < layers {
                        target.update(from: x + (b * layers + sourceLayer) * channels, count: channels)
                    } else {
                        target.update(repeating: 0, count: channels)
                    }
                }
            }
        }
    }

    /// The adjoint of `im2col`: sums each row's taps back onto the layers they came from.
    static func col2im(_ columns: UnsafePointer<Float>, channels: Int, batch: Int, layers: Int, kernel: Int,
                       into x: UnsafeMutablePointer<Float>) {
        let half = kernel / 2, width = kernel * channels
        x.update(repeating: 0, count: batch * layers * channels)
        for b in 0..<batch {
            for layer in 0..<layers {
                let row = columns + (b * layers + layer) * width
                for tap in 0..<kernel {
                    let sourceLayer = layer + tap - half
                    guard sourceLayer >= 0 && sourceLayer < layers else { continue }
                    let target = x + (b * layers + sourceLayer) * channels
                    let taps = row + tap * channels
                    for channel in 0..<channels { target[channel] += taps[channel] }
                }
            }
        }
    }

    /// Copies `bias` (cols) into every row of the (rows, cols) matrix `x`.
    static func broadcastRows(_ bias: UnsafePointer<Float>, rows: Int, cols: Int, into x: UnsafeMutablePointer<Float>) {
        for r in 0..<rows { (x + r * cols).update(from: bias, count: cols) }
    }

    /// Sums of each column of the (rows, cols) matrix `x`.
    static func columnSums(_ x: UnsafePointer<Float>, rows: Int, cols: Int, into sums: UnsafeMutablePointer<Float>) {
        sums.update(repeating: 0, count: cols)
        for r in 0..<rows {
            let row = x + r * cols
            for c in 0..<cols { sums[c] += row[c] }
        }
    }

    /// 2·√(2/π): the GELU tanh approximation written as a logistic, since
    /// `(1 + tanh(u)) / 2 = σ(2u)`; one `exp` is several times cheaper than `tanh`,
    /// and PPFTensor's polynomial `Kernels.exp` (no libm call) lets the loop vectorise.
    private static let geluScale: Float = 1.595_769_1
    /// The cubic coefficient of the GELU tanh approximation.
    private static let geluCubic: Float = 0.044_715

    /// `y = act(x)` element-wise, and the gate `y / x` (σ(2u) for GELU, 0 or 1 for
    /// ReLU) that the derivative reuses, so the backward pass needs no second `exp`.
    static func activate(_ activation: Activation, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                         gate: UnsafeMutablePointer<Float>, count: Int) {
        switch activation {
        case .relu:
            for i in 0..<count {
                let open: Float = x[i] > 0 ? 1 : 0
                gate[i] = open
                y[i] = open * x[i]
            }
        case .gelu:
            for i in 0..<count {
                let v = x[i]
                let g = 1 / (1 + Kernels.exp(-geluScale * (v + geluCubic * v * v * v)))
                gate[i] = g
                y[i] = v * g
            }
        }
    }

    /// `gradient ⊙= act'(x)` element-wise, from the gate `activate` stored.
    static func multiplyByDerivative(_ activation: Activation, of x: UnsafePointer<Float>, gate: UnsafePointer<Float>,
                                     gradient: UnsafeMutablePointer<Float>, count: Int) {
        switch activation {
        case .relu:
            for i in 0..<count { gradient[i] *= gate[i] }
        case .gelu:
            for i in 0..<count {
                // d/dx [x σ(v)] = σ(v) + x σ(v)(1 − σ(v)) v',  v = 2u,  v' = 2√(2/π)(1 + 3·0.044715 x²).
                let v = x[i], g = gate[i]
                gradient[i] *= g + v * g * (1 - g) * geluScale * (1 + 3 * geluCubic * v * v)
            }
        }
    }
}
