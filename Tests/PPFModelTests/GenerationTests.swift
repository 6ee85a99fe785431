import Testing
@testable import PPFModel
import PPFTensor

@Test func greedyGenerationIsReproducibleAndFollowsTheArgmax() throws {
    let model = try tinyModel(seed: 31)
    let prompt = [3, 14, 15, 9]
    let first = try LlamaSession(model: model).generate(prompt: prompt, maxTokens: 8)
    let second = try LlamaSession(model: model).generate(prompt: prompt, maxTokens: 8)
    #expect(first == second)   // exact: the same session steps twice, same shapes
    #expect(first.count == 8)
    // Each generated token is the argmax of a fresh window over everything before it, up to
    // rounding: the session fed the prompt as one chunk and then one token at a time, other
    // gemm shapes than the 12-token window, and the two agree to 1e-4 per logit
    // (ForwardIncrementalTests), so only a near tie within that may go either way.
    let context = prompt + first
    let logits = try model.logits(for: context)
    for (i, token) in first.enumerated() {
        let row = logits.row(prompt.count - 1 + i)
        let best = row.max() ?? -.infinity
        #expect(row[token] >= best - 1e-4, "step \(i): token \(token) has logit \(row[token]), the window's best \(best)")
    }
}

@Test func sampledGenerationIsReproducibleFromItsSeed() throws {
    let model = try tinyModel(seed: 32)
    let hot = Sampling(temperature: 25, seed: 77)
    let a = try LlamaSession(model: model).generate(prompt: [1, 2], maxTokens: 12, sampling: hot)
    let b = try LlamaSession(model: model).generate(prompt: [1, 2], maxTokens: 12, sampling: hot)
    let c = try LlamaSession(model: model).generate(prompt: [1, 2], maxTokens: 12,
                                                    sampling: Sampling(temperature: 25, seed: 78))
    #expect(a == b)   // exact: the same session steps and the same sampler seed
    #expect(a != c)
}

@Test func generationStopsAfterAStopToken() throws {
    let model = try tinyModel(seed: 33)
    let free = try LlamaSession(model: model).generate(prompt: [5], maxTokens: 6)
    let stop = free[2]
    let stopped = try LlamaSession(model: model).generate(prompt: [5], maxTokens: 6, stopTokens: [stop])
    #expect(stopped.last == stop)
    #expect(stopped.count == (free.firstIndex(of: stop) ?? 2) + 1)
}

@Test func generationStopsWhenTheContextIsFull() throws {
    let model = try tinyModel(seed: 34)
    let session = try LlamaSession(model: model, capacity: 6)
    let generated = try session.generate(prompt: [1, 2, 3], maxTokens: 10)
    #expect(generated.count == 4) // positions 3, 4, 5 fed back; the fourth token needs no position
    #expect(session.position == 6)
}

@Test(.enabled(if: RealModel.isAvailable, RealModel.skipReason))
func realModelContinuesAFactualPromptGreedily() throws {
    let model = try #require(RealLlama.model)
    let file = try #require(RealModel.file)
    let checkpoint = LlamaCheckpoint(model: model, tokenizer: try TokenizerLoader.make(from: file.metadata), url: RealModel.url)
    let text = try checkpoint.generate("The capital of France is", maxTokens: 3)
    #expect(text.contains("Paris"), "generated: \(text)")
}
