import Testing
@testable import PPFModel
import PPFTensor

@Test func forwardOverAWindowEqualsTokenByTokenDecodingWithTheKVCache() throws {
    let model = try tinyModel(seed: 21)
    let tokens = randomTokens(20, seed: 8)
    let window = try model.logits(for: tokens)
    let session = try LlamaSession(model: model, capacity: 32)
    for (i, token) in tokens.enumerated() {
        let step = try session.append([token])
        #expect(maxAbsDifference(step, window.row(i)) < 1e-4)
    }
    #expect(session.position == tokens.count)
}

@Test func chunkedPrefillEqualsOneWindow() throws {
    // A session whose chunk is smaller than the prompt feeds it in pieces.
    let model = try tinyModel(seed: 22)
    let tokens = randomTokens(23, seed: 3)
    let window = try model.logits(for: tokens)
    let session = try LlamaSession(model: model, capacity: 40, maximumChunk: 5)
    let last = try session.append(tokens)
    #expect(maxAbsDifference(last, window.row(22)) < 1e-4)
}

@Test func attentionRowChunksBeyondOneHundredTwentyEightRowsStayCausal() throws {
    // 150 tokens cross the 128-row attention chunk; compare against incremental decoding.
    let model = try tinyModel(seed: 23, contextLength: 256)
    let tokens = randomTokens(150, seed: 4)
    let window = try model.logits(for: tokens)
    let session = try LlamaSession(model: model, capacity: 150, maximumChunk: 100)
    _ = try session.append(Array(tokens[0..<140]))
    for i in 140..<150 {
        let step = try session.append([tokens[i]])
        #expect(maxAbsDifference(step, window.row(i)) < 1e-4)
    }
}

@Test func changingALaterTokenLeavesEveryEarlierLogitUnchanged() throws {
    let model = try tinyModel(seed: 24)
    var tokens = randomTokens(16, seed: 6)
    let before = try model.logits(for: tokens)
    tokens[10] = (tokens[10] + 1) % 64
    let after = try model.logits(for: tokens)
    // Exact: both windows have 16 tokens (same gemm shapes), and masked attention weights are
    // exact zeros, so the changed key and value at position 10 add exactly 0 to earlier rows.
    for i in 0..<10 { #expect(before.row(i) == after.row(i)) }
    #expect(before.row(10) != after.row(10))
}

@Test func sessionRejectsTokensBeyondItsCapacity() throws {
    let session = try LlamaSession(model: tinyModel(), capacity: 4)
    _ = try session.append([1, 2, 3])
    #expect { try session.append([4, 5]) } throws: { ($0 as? ModelError)?.code == .contextOverflow }
    session.reset()
    #expect(try session.append([4, 5]).count == 64)
}

@Test func outOfVocabularyTokensThrowTokenOutOfRange() throws {
    let model = try tinyModel()
    #expect { try model.logits(for: [1, 64]) } throws: { ($0 as? ModelError)?.code == .tokenOutOfRange }
    #expect { try model.logits(for: [-1]) } throws: { ($0 as? ModelError)?.code == .tokenOutOfRange }
}

@Test func observerSeesTheInputOfEveryLinearLayer() throws {
    final class Recorder: LlamaActivationObserver {
        var calls: [String] = []
        func attentionInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) { calls.append("a\(layer):\(rows)x\(cols)") }
        func attentionOutputInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) { calls.append("o\(layer):\(rows)x\(cols)") }
        func mlpInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) { calls.append("m\(layer):\(rows)x\(cols)") }
        func downInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) { calls.append("d\(layer):\(rows)x\(cols)") }
    }
    let model = try tinyModel()
    let recorder = Recorder()
    let cache = try KVCache(configuration: model.configuration, capacity: 6)
    let workspace = try LlamaWorkspace(configuration: model.configuration, maximumTokens: 6)
    try model.forward([1, 2, 3, 4, 5, 6], cache: cache, workspace: workspace, observer: recorder)
    #expect(recorder.calls == ["a0:6x32", "o0:6x32", "m0:6x32", "d0:6x48",
                               "a1:6x32", "o1:6x32", "m1:6x32", "d1:6x48"])
}

@Test func aCacheMadeForAnotherModelShapeIsRefused() throws {
    let model = try tinyModel()
    let pruned = try LlamaConfiguration(blockCount: 2, embeddingLength: 32, headCounts: [4, 2], keyValueHeadCounts: [2, 1],
                                        feedForwardLengths: [48, 8], headDimension: 8, contextLength: 64, vocabularySize: 64)
    let cache = try KVCache(configuration: pruned, capacity: 8)
    let workspace = try LlamaWorkspace(configuration: model.configuration, maximumTokens: 8)
    #expect { try model.forward([1, 2], cache: cache, workspace: workspace) }
        throws: { ($0 as? ModelError)?.code == .shapeMismatch }
}
