import Foundation
import PPFTensor

// MARK: - DenseReference

/// The dense model's next-token distributions on fixed tokens: the reference
/// a pruned model's KL divergence is measured against (EvoPress and
/// Týr-the-Pruner select by it).
///
/// **Why KL.** Perplexity scores one token per position, the one the text
/// happens to continue with; the divergence from the dense model scores the
/// whole distribution, so a few hundred tokens tell policies apart with far
/// less noise, and a pruned model is judged by how much it changed rather
/// than by how hard the text is.
///
/// **What is kept.** For each prediction the `topK` most probable tokens of
/// the dense model and their log-probabilities. The divergence is then the
/// exact KL divergence between the two distributions coarsened to those
/// `topK` tokens and one bin for the rest of the vocabulary: a lower bound
/// of the full KL (coarsening never increases a divergence), equal to it as
/// `topK` reaches the vocabulary, in memory of `8 · topK` bytes a prediction
/// instead of `4 · vocabulary`.
///
/// Windows are those of ``PerplexityEvaluator`` (fresh context per window,
/// n − 1 predictions per window of n tokens), so the perplexity that comes
/// with every divergence is the evaluator's.
public struct DenseReference: Sendable {
    /// The tokens scored.
    public let tokens: [Int]
    /// Tokens per window.
    public let windowLength: Int
    /// Dense tokens kept per prediction.
    public let topK: Int
    /// Predictions (rows of `ids`).
    public let predictions: Int
    /// The dense model's mean negative log-likelihood per prediction (nats).
    public let denseNLL: Double
    /// `predictions × topK` vocabulary ids, by descending dense probability in each row.
    let ids: [Int32]
    /// Their dense log-probabilities, in the same layout.
    let logProbabilities: [Float]

    /// The reference of `model` (the dense one) on `tokens` in windows of `windowLength`.
    /// - Throws: ``ModelError`` `windowTooShort`, `windowTooLong`, `emptySplit`,
    ///   `tokenOutOfRange`; `referenceMismatch` for `topK` outside 1…vocabulary.
    public init(model: LlamaModel, tokens: [Int], windowLength: Int, topK: Int = 64) throws(ModelError) {
        guard topK >= 1, topK <= model.configuration.vocabularySize else {
            throw ModelError(.referenceMismatch, "topK must lie in 1…\(model.configuration.vocabularySize), got \(topK)")
        }
        var ids: [Int32] = []
        var logProbabilities: [Float] = []
        var heap = TopK(capacity: topK)
        var nll = 0.0
        let count = try model.forEachPrediction(tokens, windowLength: windowLength) { row, normaliser, target, vocabulary in
            nll += Double(normaliser) - Double(row[target])
            heap.reset()
            for index in 0..<vocabulary { heap.offer(row[index], index) }
            for (value, index) in heap.descending() {
                ids.append(Int32(index))
                logProbabilities.append(value - normaliser)
            }
        }
        self.tokens = tokens
        self.windowLength = windowLength
        self.topK = topK
        self.predictions = count
        self.denseNLL = nll / Double(count)
        self.ids = ids
        self.logProbabilities = logProbabilities
    }

    /// A pruned model's divergence from this reference, and its perplexity, from one pass over the tokens.
    /// - Throws: ``ModelError`` `referenceMismatch` when `model` has another vocabulary; what the forward pass throws.
    public func divergence(of model: LlamaModel) throws(ModelError) -> DivergenceResult {
        guard let largest = ids.max(), Int(largest) < model.configuration.vocabularySize else {
            throw ModelError(.referenceMismatch, "the model's vocabulary of \(model.configuration.vocabularySize) does not hold the reference's tokens")
        }
        var kl = 0.0
        var nll = 0.0
        var prediction = 0
        let started = Date()
        let count = try model.forEachPrediction(tokens, windowLength: windowLength) { row, normaliser, target, _ in
            nll += Double(normaliser) - Double(row[target])
            let base = prediction * topK
            var denseMass = 0.0, prunedMass = 0.0, divergence = 0.0
            for k in 0..<topK {
                let logP = Double(logProbabilities[base + k])
                let logQ = Double(row[Int(ids[base + k])] - normaliser)
                let p = exp(logP)
                denseMass += p
                prunedMass += exp(logQ)
                divergence += p * (logP - logQ)
            }
            // The rest of the vocabulary as one bin (0 · log 0 = 0).
            let denseRest = max(0, 1 - denseMass), prunedRest = max(1e-12, 1 - prunedMass)
            if denseRest > 1e-12 { divergence += denseRest * (log(denseRest) - log(prunedRest)) }
            kl += max(0, divergence)
            prediction += 1
        }
        guard count == predictions else {
            throw ModelError(.referenceMismatch, "the model scored \(count) predictions where the reference holds \(predictions)")
        }
        let meanNLL = nll / Double(count)
        return DivergenceResult(klDivergence: kl / Double(count), nll: meanNLL, perplexity: exp(meanNLL),
                                predictions: count, seconds: Date().timeIntervalSince(started))
    }
}

/// A pruned model against a ``DenseReference``.
public struct DivergenceResult: Sendable, Equatable {
    /// Mean KL divergence from the dense next-token distribution per prediction (nats, ≥ 0).
    public let klDivergence: Double
    /// Mean negative log-likelihood per prediction (nats).
    public let nll: Double
    /// `exp(nll)`, as ``PerplexityEvaluator`` measures it.
    public let perplexity: Double
    /// Predictions scored.
    public let predictions: Int
    /// Wall-clock seconds of the pass.
    public let seconds: Double
}

// MARK: - Predictions, window by window

extension LlamaModel {
    /// Runs `tokens` in the windows of ``PerplexityEvaluator`` and calls
    /// `body(logits, logSumExp, target, vocabulary)` for each prediction in
    /// order; returns how many there were.
    func forEachPrediction(_ tokens: [Int], windowLength: Int,
                           _ body: (UnsafeMutablePointer<Float>, Float, Int, Int) -> Void) throws(ModelError) -> Int {
        let evaluator = try PerplexityEvaluator(model: self, windowLength: windowLength)
        guard tokens.count >= 2 else {
            throw ModelError(.emptySplit, "a divergence needs at least 2 tokens, got \(tokens.count)")
        }
        try checkTokens(tokens)
        let length = min(windowLength, tokens.count)
        let cache = try KVCache(configuration: configuration, capacity: length)
        let workspace = try LlamaWorkspace(configuration: configuration, maximumTokens: length)
        let vocabulary = configuration.vocabularySize
        var count = 0
        for range in evaluator.windows(tokenCount: tokens.count) {
            let window = Array(tokens[range])
            cache.reset()
            try forward(window, cache: cache, workspace: workspace)
            let targets = Array(window.dropFirst())
            var start = 0
            while start < targets.count {
                let end = min(targets.count, start + workspace.logitRows)
                headLogits(start..<end, workspace: workspace, into: workspace.logits.pointer)
                for i in start..<end {
                    let row = workspace.logits.pointer + (i - start) * vocabulary
                    body(row, Kernels.logSumExp(row, count: vocabulary), targets[i], vocabulary)
                    count += 1
                }
                start = end
            }
        }
        return count
    }
}

// MARK: - TopK

/// The `capacity` largest values offered, with their indices: a binary min-heap.
struct TopK {
    let capacity: Int
    private var values: [Float] = []
    private var indices: [Int] = []

    init(capacity: Int) {
        self.capacity = capacity
        values.reserveCapacity(capacity)
        indices.reserveCapacity(capacity)
    }

    mutating func reset() {
        values.removeAll(keepingCapacity: true)
        indices.removeAll(keepingCapacity: true)
    }

    mutating func offer(_ value: Float, _ index: Int) {
        if values.count < capacity {
            values.append(value)
            indices.append(index)
            var child = values.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard values[child] < values[parent] else { break }
                values.swapAt(child, parent)
                indices.swapAt(child, parent)
                child = parent
            }
        } else if value > values[0] {
            values[0] = value
            indices[0] = index
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < values.count, values[left] < values[smallest] { smallest = left }
                if right < values.count, values[right] < values[smallest] { smallest = right }
                guard smallest != parent else { break }
                values.swapAt(parent, smallest)
                indices.swapAt(parent, smallest)
                parent = smallest
            }
        }
    }

    /// The kept (value, index) pairs, largest first.
    func descending() -> [(Float, Int)] {
        zip(values, indices).sorted { $0.0 > $1.0 }.map { ($0.0, $0.1) }
    }
}
