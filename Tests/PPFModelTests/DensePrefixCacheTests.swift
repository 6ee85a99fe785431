import Foundation
import Testing
@testable import PPFModel
import PPFTensor

// MARK: - Dense prefix cache (issue 15 §4)

private func code(of error: any Error) -> ModelError.Code? { (error as? ModelError)?.code }

/// d = 32, 4 query heads on 2 KV heads, FFN 48, `blocks` blocks, vocab 64, context 64.
private func deepConfiguration(blocks: Int) throws -> LlamaConfiguration {
    try LlamaConfiguration(blockCount: blocks, embeddingLength: 32, headCounts: [4], keyValueHeadCounts: [2],
                           feedForwardLengths: [48], rmsNormEpsilon: 1e-5, ropeFrequencyBase: 10_000,
                           contextLength: 64, vocabularySize: 64)
}

/// `dense` with block `k` replaced by another model's block of the same shape: a "probe" of block k.
private func probe(_ dense: LlamaWeights, block k: Int, from other: LlamaWeights) throws -> LlamaWeights {
    var blocks = dense.blocks
    blocks[k] = other.blocks[k]
    return try LlamaWeights(configuration: dense.configuration, tokenEmbedding: dense.tokenEmbedding, blocks: blocks,
                            outputNorm: dense.outputNorm, output: dense.output)
}

@Test func sharedLeadingBlocksFollowTheFirstDifferingOrMissingBlock() throws {
    let c = try deepConfiguration(blocks: 6)
    let dense = try LlamaWeights.random(configuration: c, seed: 1)
    let other = try LlamaWeights.random(configuration: c, seed: 2)
    #expect(dense.leadingBlocksShared(with: dense) == 6)
    for k in [0, 3, 5] {
        #expect(try probe(dense, block: k, from: other).leadingBlocksShared(with: dense) == k)
    }
    // Dropping block 2 shifts blocks 3… onto indices 2…: two blocks still compute the same.
    let dropped = try LlamaWeights(configuration: deepConfiguration(blocks: 5), tokenEmbedding: dense.tokenEmbedding,
                                   blocks: Array(dense.blocks[0..<2] + dense.blocks[3...]),
                                   outputNorm: dense.outputNorm, output: dense.output)
    #expect(dropped.leadingBlocksShared(with: dense) == 2 && dense.leadingBlocksShared(with: dropped) == 2)
    // Equal values in separate storage count; a zero bias adds what no bias adds; a nonzero one does not.
    var copied = dense.blocks
    copied[0].attention!.query = try Matrix(rows: copied[0].attention!.query.rows, cols: copied[0].attention!.query.cols,
                                            storage: Array(dense.blocks[0].attention!.query.storage))
    copied[1].mlp!.downBias = [Float](repeating: 0, count: 32)
    copied[2].mlp!.downBias = [Float](repeating: 0.5, count: 32)
    let biased = try LlamaWeights(configuration: c, tokenEmbedding: dense.tokenEmbedding, blocks: copied,
                                  outputNorm: dense.outputNorm, output: dense.output)
    #expect(biased.leadingBlocksShared(with: dense) == 2)
    // Another embedding shares nothing.
    let reembedded = try LlamaWeights(configuration: c, tokenEmbedding: other.tokenEmbedding, blocks: dense.blocks,
                                      outputNorm: dense.outputNorm, output: dense.output)
    #expect(reembedded.leadingBlocksShared(with: dense) == 0)
}

/// The residual entering `block` for `tokens` in a fresh context.
private final class BlockInputs: LlamaResidualObserver {
    var inputs: [Int: [Float]] = [:]
    func blockInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) { inputs[layer] = Array(x) }
    func blockOutput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {}
    func attentionInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {}
    func attentionOutputInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {}
    func mlpInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {}
    func downInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {}
}

@Test func aWindowResumedFromABlockInputEndsWhereTheFullPassEnds() throws {
    let model = try LlamaModel(weights: .random(configuration: deepConfiguration(blocks: 5), seed: 3))
    let tokens = randomTokens(20, seed: 4)
    let cache = try KVCache(configuration: model.configuration, capacity: 32)
    let workspace = try LlamaWorkspace(configuration: model.configuration, maximumTokens: 32)
    let inputs = BlockInputs()
    try model.forward(tokens, cache: cache, workspace: workspace, observer: inputs)
    let full = workspace.normed.array(count: 20 * 32)
    for block in [1, 3, 5] {
        cache.reset()
        let state = block == 5 ? nil : inputs.inputs[block]
        // Block 5 (= blockCount) resumes after the last block: only the final norm runs.
        let residual: [Float]
        if let state { residual = state } else {
            let last = BlockOutputs(); cache.reset()
            try model.forward(tokens, cache: cache, workspace: workspace, observer: last)
            residual = last.output!; cache.reset()
        }
        try residual.withUnsafeBufferPointer { (r) throws(ModelError) in
            try model.forward(tokens, resumingAt: block, residual: r, cache: cache, workspace: workspace)
        }
        #expect(maxAbsDifference(workspace.normed.array(count: 20 * 32), full) < 1e-5, "resumed at block \(block)")
        #expect(cache.filledFromBlock == block && cache.count == 20)
    }
    // A resumed cache lacks the earlier blocks' keys: continuing it is refused until reset.
    #expect { try model.forward([1], cache: cache, workspace: workspace) } throws: { code(of: $0) == .incompleteCache }
    // So is resuming on a cache in use, a residual of the wrong size and a block outside 0...blockCount.
    cache.reset()
    try model.forward([1, 2], cache: cache, workspace: workspace)
    let state = inputs.inputs[1]!
    #expect { try state.withUnsafeBufferPointer { (r) throws(ModelError) in
        try model.forward(tokens, resumingAt: 1, residual: r, cache: cache, workspace: workspace) } } throws: {
        code(of: $0) == .incompleteCache
    }
    cache.reset()
    #expect { try state.withUnsafeBufferPointer { (r) throws(ModelError) in
        try model.forward(Array(tokens.prefix(5)), resumingAt: 1, residual: r, cache: cache, workspace: workspace) } } throws: {
        code(of: $0) == .shapeMismatch
    }
    #expect { try state.withUnsafeBufferPointer { (r) throws(ModelError) in
        try model.forward(tokens, resumingAt: 6, residual: r, cache: cache, workspace: workspace) } } throws: {
        code(of: $0) == .shapeMismatch
    }
    // After a reset the cache is whole again.
    cache.reset()
    try model.forward(tokens, cache: cache, workspace: workspace)
    #expect(cache.filledFromBlock == 0)
}

private final class BlockOutputs: LlamaResidualObserver {
    var output: [Float]?
    func blockInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {}
    func blockOutput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) { output = Array(x) }
    func attentionInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {}
    func attentionOutputInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {}
    func mlpInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {}
    func downInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {}
}

@Test func probesMeasuredThroughThePrefixCacheScoreWhatTheyScoreWithout() throws {
    let c = try deepConfiguration(blocks: 6)
    let dense = try LlamaWeights.random(configuration: c, seed: 5)
    let other = try LlamaWeights.random(configuration: c, seed: 6)
    let tokens = randomTokens(50, seed: 7)  // windows of 16: 16 + 16 + 16 + 2
    let prefix = try DensePrefixCache(dense: dense, tokens: tokens, windowLength: 16, byteBudget: 1 << 20)
    #expect(prefix.boundaries == [1, 2, 3, 4, 5])

    var models = [try LlamaModel(weights: dense)]
    for k in [4, 2, 5, 0, 4] { models.append(try LlamaModel(weights: probe(dense, block: k, from: other))) }
    for model in models {
        let evaluator = try PerplexityEvaluator(model: model, windowLength: 16)
        let plain = try evaluator.evaluate(tokens)
        let cached = try evaluator.evaluate(tokens, prefixCache: prefix)
        #expect(abs(cached.perplexity - plain.perplexity) <= 1e-6 * plain.perplexity,
                "\(cached.perplexity) vs \(plain.perplexity)")
        #expect(zip(cached.windowNLL, plain.windowNLL).allSatisfy { abs($0 - $1) < 1e-6 })
    }
    // Dense fills boundaries 1…5 (computed anyway); the probes of 4, 2, 5 then resume at 4, 2, 5;
    // the probe of 0 cannot; the second probe of 4 resumes at 4. Four windows each.
    let counters = prefix.counters
    #expect(counters.windowsFromStart == 2 * 4 && counters.windowsResumed == 4 * 4)
    #expect(counters.blocksSkipped == (4 + 2 + 5 + 4) * 4)
    #expect(counters.blocksComputed == 6 * 6 * 4 - counters.blocksSkipped)
    #expect(counters.bytesHeld == 5 * 50 * 32 * 4)
}

@Test func aPrefixCacheWithinItsBudgetKeepsEverySthBoundaryAndFillsAsProbesGoDeeper() throws {
    let c = try deepConfiguration(blocks: 9)
    let dense = try LlamaWeights.random(configuration: c, seed: 8)
    let other = try LlamaWeights.random(configuration: c, seed: 9)
    let tokens = randomTokens(24, seed: 10)
    let perBoundary = 24 * 32 * 4
    // Room for 3 of the 8 inner boundaries: every third.
    let prefix = try DensePrefixCache(dense: dense, tokens: tokens, windowLength: 12, byteBudget: 3 * perBoundary + 7)
    #expect(prefix.boundaries == [3, 6])
    #expect(DensePrefixCache.boundaries(blockCount: 9, fitting: 8) == Array(1...8))
    #expect(DensePrefixCache.boundaries(blockCount: 9, fitting: 100) == Array(1...8))
    #expect(DensePrefixCache.boundaries(blockCount: 9, fitting: 0) == [])
    #expect(DensePrefixCache.boundaries(blockCount: 1, fitting: 5) == [])

    // The first probe of block 5 stores boundary 3 on its way; the probe of block 8 then
    // resumes at 3 and stores 6; the next probe of 8 resumes at 6.
    for (k, start) in [(5, 0), (8, 3), (8, 6), (2, 0)] {
        let before = prefix.counters.blocksSkipped
        let model = try LlamaModel(weights: probe(dense, block: k, from: other))
        let evaluator = try PerplexityEvaluator(model: model, windowLength: 12)
        let cached = try evaluator.evaluate(tokens, prefixCache: prefix)
        #expect(prefix.counters.blocksSkipped - before == 2 * start, "probe of block \(k)")
        #expect(abs(cached.perplexity - (try evaluator.evaluate(tokens)).perplexity) <= 1e-6 * cached.perplexity)
    }
    #expect(prefix.counters.bytesHeld == 2 * perBoundary)
}

@Test func aPrefixCacheOfOtherTokensOrWindowsIsRefused() throws {
    let model = try LlamaModel(weights: .random(configuration: deepConfiguration(blocks: 3), seed: 11))
    let tokens = randomTokens(40, seed: 12)
    let prefix = try DensePrefixCache(dense: model.weights, tokens: Array(tokens.prefix(32)), windowLength: 16,
                                      byteBudget: 1 << 20)
    let evaluator = try PerplexityEvaluator(model: model, windowLength: 16)
    _ = try evaluator.evaluate(tokens, tokenBudget: 32, prefixCache: prefix)  // the same 32 tokens: accepted
    #expect { try evaluator.evaluate(tokens, prefixCache: prefix) } throws: { code(of: $0) == .prefixCacheMismatch }
    #expect { try PerplexityEvaluator(model: model, windowLength: 8).evaluate(tokens, tokenBudget: 32, prefixCache: prefix) }
        throws: { code(of: $0) == .prefixCacheMismatch }
    #expect { try DensePrefixCache(dense: model.weights, tokens: [1], windowLength: 16, byteBudget: 1) } throws: {
        code(of: $0) == .emptySplit
    }
}
