import PPFTensor

// MARK: - Row and column reductions of (out × in) weights

/// The per-row and per-column sums the metrics are made of. Weights are
/// (out × in) row-major: a row is an output feature, a column an input channel.
enum WeightReductions {
    /// `Σ_c |W[r, c]|·s[c]` per row `r` (`s` = nil: plain `Σ_c |W[r, c]|`).
    static func rowAbsoluteSums(_ w: Matrix, scaledBy s: [Float]? = nil) -> [Double] {
        w.withUnsafeBufferPointer { buffer in
            (0..<w.rows).map { r in
                var total = 0.0
                let row = r * w.cols
                if let s {
                    for c in 0..<w.cols { total += Double(abs(buffer[row + c]) * s[c]) }
                } else {
                    for c in 0..<w.cols { total += Double(abs(buffer[row + c])) }
                }
                return total
            }
        }
    }

    /// `Σ_c W[r, c]²` per row `r`.
    static func rowSquares(_ w: Matrix) -> [Double] {
        w.withUnsafeBufferPointer { buffer in
            (0..<w.rows).map { r in
                var total = 0.0
                for c in 0..<w.cols { let v = Double(buffer[r * w.cols + c]); total += v * v }
                return total
            }
        }
    }

    /// `Σ_r |W[r, c]|` per column `c`.
    static func columnAbsoluteSums(_ w: Matrix) -> [Double] {
        var totals = [Double](repeating: 0, count: w.cols)
        w.withUnsafeBufferPointer { buffer in
            for r in 0..<w.rows {
                for c in 0..<w.cols { totals[c] += Double(abs(buffer[r * w.cols + c])) }
            }
        }
        return totals
    }

    /// `Σ_r W[r, c]²` per column `c`, i.e. `‖W[:, c]‖²`.
    static func columnSquares(_ w: Matrix) -> [Double] {
        var totals = [Double](repeating: 0, count: w.cols)
        w.withUnsafeBufferPointer { buffer in
            for r in 0..<w.rows {
                for c in 0..<w.cols { let v = Double(buffer[r * w.cols + c]); totals[c] += v * v }
            }
        }
        return totals
    }

    /// Sums consecutive runs of `size` values: per-row scores of q (or k, v)
    /// become per-head (per-group) scores; per-column scores of o become per-head.
    static func sumRuns(_ values: [Double], of size: Int) -> [Double] {
        guard size > 0 else { return [] }
        return stride(from: 0, to: values.count, by: size).map { start in
            values[start ..< min(values.count, start + size)].reduce(0, +)
        }
    }

    /// Element-wise sum of equally long vectors.
    static func add(_ vectors: [Double]...) -> [Double] {
        guard let first = vectors.first else { return [] }
        return vectors.dropFirst().reduce(first) { zip($0, $1).map(+) }
    }
}
