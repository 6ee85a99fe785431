import Foundation

// MARK: - TrainingLoss

/// The training objective on standardised log-perplexity: mean squared error
/// plus, optionally, a pairwise ranking term.
///
/// The ranking term is RankNet's (Burges et al. 2005): for every pair with
/// different targets, `log(1 + exp(−s · (ŷᵢ − ŷⱼ) / T))` with `s` the sign of
/// `yᵢ − yⱼ`, averaged over pairs. It rewards getting the order right, which is
/// what a search steered by the predictor needs, not only the values.
struct TrainingLoss: Sendable {
    /// Weight of the ranking term (0 turns it off).
    let rankingWeight: Double
    /// Temperature T of the ranking term.
    let temperature: Double

    /// The loss of `predictions` against `targets` (both length n), and
    /// ∂loss/∂prediction written to `gradient` when it is given.
    func evaluate(predictions: UnsafePointer<Float>, targets: UnsafePointer<Float>, count n: Int,
                  gradient: UnsafeMutablePointer<Float>?) -> Double {
        guard n > 0 else { return 0 }
        var squared = 0.0
        for i in 0..<n {
            let error = Double(predictions[i]) - Double(targets[i])
            squared += error * error
            gradient?[i] = Float(2 * error / Double(n))
        }
        var loss = squared / Double(n)
        guard rankingWeight > 0 else { return loss }

        var pairs = 0
        for i in 0..<n { for j in (i + 1)..<n where targets[i] != targets[j] { pairs += 1 } }
        guard pairs > 0 else { return loss }
        var ranking = 0.0
        let scale = rankingWeight / Double(pairs)
        for i in 0..<n {
            for j in (i + 1)..<n where targets[i] != targets[j] {
                let sign: Double = targets[i] > targets[j] ? 1 : -1
                let margin = sign * (Double(predictions[i]) - Double(predictions[j])) / temperature
                // softplus(−margin), computed without overflow.
                ranking += margin > 0 ? Foundation.log1p(Foundation.exp(-margin)) : -margin + Foundation.log1p(Foundation.exp(margin))
                if let gradient {
                    // d softplus(−m)/dm = −σ(−m); dm/dŷᵢ = s/T, dm/dŷⱼ = −s/T.
                    let push = -1 / (1 + Foundation.exp(margin)) * sign / temperature * scale
                    gradient[i] += Float(push)
                    gradient[j] -= Float(push)
                }
            }
        }
        loss += rankingWeight * ranking / Double(pairs)
        return loss
    }
}
