import PPFModel

// MARK: - ChannelAccumulator

/// Running per-channel sums of a (T, n) activation stream, in `Double` so
/// 16 000 tokens of squares lose nothing to rounding.
struct ChannelAccumulator {
    private(set) var sum: [Double]
    private(set) var sumOfSquares: [Double]
    private(set) var rows = 0

    init(channels: Int) {
        sum = [Double](repeating: 0, count: channels)
        sumOfSquares = [Double](repeating: 0, count: channels)
    }

    /// Adds the rows of a row-major (rows, cols) buffer.
    mutating func add(_ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {
        precondition(cols == sum.count, "an observed layer changed width between windows")
        sum.withUnsafeMutableBufferPointer { s in
            sumOfSquares.withUnsafeMutableBufferPointer { q in
                for r in 0..<rows {
                    let row = r * cols
                    for c in 0..<cols {
                        let v = Double(x[row + c])
                        s[c] += v
                        q[c] += v * v
                    }
                }
            }
        }
        self.rows += rows
    }

    /// Mean, population variance and squared norm per channel.
    func statistics() -> ChannelStatistics {
        let n = Double(max(rows, 1))
        var mean = [Float](), variance = [Float](), squaredNorm = [Float]()
        for c in sum.indices {
            let m = sum[c] / n
            mean.append(Float(m))
            variance.append(Float(max(0, sumOfSquares[c] / n - m * m)))
            squaredNorm.append(Float(sumOfSquares[c]))
        }
        return ChannelStatistics(mean: mean, variance: variance, squaredNorm: squaredNorm)
    }
}

// MARK: - CalibrationCollector

/// Observes forward passes and accumulates every statistic calibration keeps.
///
/// Not thread-safe: one forward pass at a time on one thread feeds it.
final class CalibrationCollector: LlamaResidualObserver {
    private var attentionInput: [ChannelAccumulator?]
    private var attentionOutputInput: [ChannelAccumulator?]
    private var mlpInput: [ChannelAccumulator?]
    private var downInput: [ChannelAccumulator?]
    /// Σ_t cos(x_in,t, x_out,t) and the token count, per block.
    private var cosineSum: [Double]
    private var cosineCount: [Int]
    /// The residual entering the block being run, (T, d).
    private var blockInputCopy: [Float] = []

    init(configuration c: LlamaConfiguration) {
        let d = c.embeddingLength
        attentionInput = c.blocks.map { $0.hasAttention ? ChannelAccumulator(channels: d) : nil }
        attentionOutputInput = c.blocks.map { $0.hasAttention ? ChannelAccumulator(channels: $0.queryHeads * c.headDimension) : nil }
        mlpInput = c.blocks.map { $0.hasMLP ? ChannelAccumulator(channels: d) : nil }
        downInput = c.blocks.map { $0.hasMLP ? ChannelAccumulator(channels: $0.feedForwardLength) : nil }
        cosineSum = [Double](repeating: 0, count: c.blockCount)
        cosineCount = [Int](repeating: 0, count: c.blockCount)
    }

    func attentionInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {
        attentionInput[layer]?.add(x, rows: rows, cols: cols)
    }

    func attentionOutputInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {
        attentionOutputInput[layer]?.add(x, rows: rows, cols: cols)
    }

    func mlpInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {
        mlpInput[layer]?.add(x, rows: rows, cols: cols)
    }

    func downInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {
        downInput[layer]?.add(x, rows: rows, cols: cols)
    }

    func blockInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {
        blockInputCopy = Array(x[0 ..< rows * cols])
    }

    /// ShortGPT's per-token cosine between the block's input and output hidden states.
    func blockOutput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {
        blockInputCopy.withUnsafeBufferPointer { input in
            for r in 0..<rows {
                var dot = 0.0, inNorm = 0.0, outNorm = 0.0
                for c in 0..<cols {
                    let a = Double(input[r * cols + c]), b = Double(x[r * cols + c])
                    dot += a * b
                    inNorm += a * a
                    outNorm += b * b
                }
                let denominator = (inNorm * outNorm).squareRoot()
                // A zero vector has no direction; count it as unchanged (cos = 1).
                cosineSum[layer] += denominator > 0 ? dot / denominator : 1
            }
        }
        cosineCount[layer] += rows
    }

    /// The accumulated statistics, one entry per block.
    func layerStatistics() -> [LayerStatistics] {
        cosineSum.indices.map { layer in
            let meanCosine = cosineCount[layer] > 0 ? cosineSum[layer] / Double(cosineCount[layer]) : 1
            return LayerStatistics(attentionInput: attentionInput[layer]?.statistics(),
                                   attentionOutputInput: attentionOutputInput[layer]?.statistics(),
                                   mlpInput: mlpInput[layer]?.statistics(),
                                   downInput: downInput[layer]?.statistics(),
                                   blockInfluence: 1 - meanCosine)
        }
    }
}
