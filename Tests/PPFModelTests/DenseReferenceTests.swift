import Foundation
import Testing
@testable import PPFModel
import PPFTensor

/// Log-softmax of every prediction row of `tokens` in windows of `window`, the slow way (full logits, Double).
private func slowLogSoftmax(_ model: LlamaModel, _ tokens: [Int], window: Int) throws -> [[Double]] {
    try stride(from: 0, to: tokens.count, by: window).flatMap { start -> [[Double]] in
        let chunk = Array(tokens[start..<min(tokens.count, start + window)])
        guard chunk.count >= 2 else { return [] }
        let logits = try model.logits(for: chunk)
        return (0..<(chunk.count - 1)).map { i in
            let row = logits.row(i).map(Double.init)
            let m = row.max()!
            let lse = m + log(row.map { exp($0 - m) }.reduce(0, +))
            return row.map { $0 - lse }
        }
    }
}

/// KL(p ‖ q) per row, averaged, from full log-distributions.
private func meanKL(_ p: [[Double]], _ q: [[Double]]) -> Double {
    var total = 0.0
    for (pRow, qRow) in zip(p, q) {
        for (logP, logQ) in zip(pRow, qRow) { total += exp(logP) * (logP - logQ) }
    }
    return total / Double(p.count)
}

@Test func theDenseModelDivergesByNothingAndScoresTheEvaluatorsPerplexity() throws {
    let dense = try tinyModel(seed: 41)
    let tokens = randomTokens(22, seed: 5)
    let reference = try DenseReference(model: dense, tokens: tokens, windowLength: 8, topK: 16)
    let own = try reference.divergence(of: dense)
    let evaluated = try PerplexityEvaluator(model: dense, windowLength: 8).evaluate(tokens)
    #expect(own.klDivergence < 1e-6)
    #expect(own.predictions == evaluated.tokensCounted && reference.predictions == 7 + 7 + 5)
    #expect(abs(own.nll - evaluated.nll) < 1e-5 && abs(reference.denseNLL - evaluated.nll) < 1e-5)
}

@Test func withTheWholeVocabularyKeptTheDivergenceIsTheFullKLAndWithLessALowerBound() throws {
    let dense = try tinyModel(seed: 41)
    let other = try tinyModel(seed: 43)
    let tokens = randomTokens(20, seed: 6)
    let full = meanKL(try slowLogSoftmax(dense, tokens, window: 8), try slowLogSoftmax(other, tokens, window: 8))
    #expect(full > 0.01, "two random models differ")

    let whole = try DenseReference(model: dense, tokens: tokens, windowLength: 8, topK: 64).divergence(of: other)
    #expect(abs(whole.klDivergence - full) < 1e-4 * max(1, full))
    let coarse = try DenseReference(model: dense, tokens: tokens, windowLength: 8, topK: 4).divergence(of: other)
    #expect(coarse.klDivergence > 0 && coarse.klDivergence <= full + 1e-6)
    #expect(abs(coarse.nll - whole.nll) < 1e-6, "the perplexity does not depend on what the reference keeps")
}

@Test func aReferenceThatCannotBeBuiltOrFitIsAReferenceMismatch() throws {
    let dense = try tinyModel(seed: 41)
    let tokens = randomTokens(12, seed: 7)
    for topK in [0, 65] {
        #expect { try DenseReference(model: dense, tokens: tokens, windowLength: 4, topK: topK) } throws: {
            ($0 as? ModelError)?.code == .referenceMismatch
        }
    }
    #expect { try DenseReference(model: dense, tokens: [3], windowLength: 4) } throws: {
        ($0 as? ModelError)?.code == .emptySplit
    }
}
