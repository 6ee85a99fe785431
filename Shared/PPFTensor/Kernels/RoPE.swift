import Foundation

// MARK: - Rotary position embedding

/// Precomputed `cos`/`sin` of the rotary angles `θ(p, i) = p · base^(−2i/hd)`
/// for positions `0 ..< positions` and pair index `i ∈ 0 ..< hd/2`
/// (Su et al. 2021, RoFormer §3.4).
public struct RoPETable: Sendable {
    /// Head dimension `hd` the table was built for (even).
    public let headDimension: Int
    /// Number of positions covered.
    public let positions: Int
    /// The frequency base (`rope.freq_base`, e.g. 10 000 or 100 000).
    public let base: Float
    /// `cos θ(p, i)` at `p · hd/2 + i`.
    public let cosines: [Float]
    /// `sin θ(p, i)` at `p · hd/2 + i`.
    public let sines: [Float]

    /// Builds the table; angles are computed in `Double` and rounded once.
    public init(headDimension: Int, positions: Int, base: Float) throws(TensorError) {
        guard headDimension > 0, headDimension % 2 == 0 else {
            throw TensorError(.invalidArgument, "RoPE head dimension must be positive and even, got \(headDimension)")
        }
        guard positions > 0, base > 0 else {
            throw TensorError(.invalidArgument, "RoPE needs positions > 0 and base > 0, got \(positions), \(base)")
        }
        let half = headDimension / 2
        var cosines = [Float](repeating: 0, count: positions * half)
        var sines = [Float](repeating: 0, count: positions * half)
        let inverseFrequencies = (0..<half).map { i in pow(Double(base), -2 * Double(i) / Double(headDimension)) }
        for p in 0..<positions {
            for i in 0..<half {
                let angle = Double(p) * inverseFrequencies[i]
                cosines[p * half + i] = Float(cos(angle))
                sines[p * half + i] = Float(sin(angle))
            }
        }
        self.headDimension = headDimension
        self.positions = positions
        self.base = base
        self.cosines = cosines
        self.sines = sines
    }
}

extension Kernels {
    /// Rotates every head of `rows` consecutive token rows in place.
    ///
    /// Pairs are ADJACENT elements `(2i, 2i+1)` of each head, the "normal"
    /// rope mode of llama.cpp. GGUF llama checkpoints store the Q and K rows
    /// permuted (by the HF→GGUF converter) precisely so that this pairing is
    /// equivalent to the HF "rotate half" layout.
    ///
    /// - Parameters:
    ///   - x: row `t` starts at `x + t · rowStride` and holds `heads · hd` values.
    ///   - firstPosition: absolute position of row 0; row `t` is at `firstPosition + t`.
    public static func applyRoPE(
        _ x: UnsafeMutablePointer<Float>, rows: Int, rowStride: Int, heads: Int,
        firstPosition: Int, table: RoPETable
    ) {
        let hd = table.headDimension
        let half = hd / 2
        precondition(firstPosition >= 0 && firstPosition + rows <= table.positions,
                     "RoPE position beyond the table; the caller checks the context length")
        table.cosines.withUnsafeBufferPointer { cosines in
            table.sines.withUnsafeBufferPointer { sines in
                for t in 0..<rows {
                    let angle = (firstPosition + t) * half
                    let c = cosines.baseAddress! + angle
                    let s = sines.baseAddress! + angle
                    let row = x + t * rowStride
                    for h in 0..<heads {
                        let v = row + h * hd
                        for i in 0..<half {
                            let x0 = v[2 * i], x1 = v[2 * i + 1]
                            v[2 * i] = x0 * c[i] - x1 * s[i]
                            v[2 * i + 1] = x0 * s[i] + x1 * c[i]
                        }
                    }
                }
            }
        }
    }
}
