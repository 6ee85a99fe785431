import Foundation
import PPFContracts
import Testing
import PPFModel
@testable import PPFPruning
import PPFTensor

// MARK: - SHA-256 (FIPS 180-4 test vectors)

@Test func sha256MatchesTheStandardTestVectors() {
    #expect(SHA256.hex(of: Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(SHA256.hex(of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    #expect(SHA256.hex(of: Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    // Fed in uneven pieces, the digest is the same.
    var digest = SHA256()
    let message = Array(String(repeating: "a", count: 1000).utf8)
    for chunk in stride(from: 0, to: 1000, by: 37) { digest.update(message[chunk ..< min(1000, chunk + 37)]) }
    #expect(digest.hexDigest() == SHA256.hex(of: message))
    #expect(digest.hexDigest() == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
}

// MARK: - Statistics

@Test func packedFloatsRoundTripBitExactly() throws {
    let values: [Float] = [0, -0, 1, -2.5, .pi, .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1e-30]
    let data = try JSONEncoder().encode(PackedFloats(values))
    let decoded = try JSONDecoder().decode(PackedFloats.self, from: data)
    #expect(decoded.values.map(\.bitPattern) == values.map(\.bitPattern))
    #expect(throws: DecodingError.self) { _ = try JSONDecoder().decode(PackedFloats.self, from: Data(#""AAA=""#.utf8)) }
}

/// Statistics recomputed by hand from a recording observer match the collector's.
@Test func calibrationStatisticsMatchADirectComputation() throws {
    final class Recorder: LlamaResidualObserver {
        var down: [[Float]] = []          // block 1's down-projection inputs, row by row
        var blockIn: [[Float]] = [], blockOut: [[Float]] = []
        func attentionInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {}
        func attentionOutputInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {}
        func mlpInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {}
        func downInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {
            if layer == 1 { for r in 0..<rows { down.append(Array(x[r * cols ..< (r + 1) * cols])) } }
        }
        func blockInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {
            if layer == 2 { for r in 0..<rows { blockIn.append(Array(x[r * cols ..< (r + 1) * cols])) } }
        }
        func blockOutput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {
            if layer == 2 { for r in 0..<rows { blockOut.append(Array(x[r * cols ..< (r + 1) * cols])) } }
        }
    }
    let weights = try tinyWeights(seed: 19)
    let model = try LlamaModel(weights: weights)
    let tokens = randomTokens(64, seed: 3)
    let statistics = try tinyStatistics(weights, seed: 3)
    let recorder = Recorder()
    for window in 0..<4 {
        let cache = try KVCache(configuration: model.configuration, capacity: 16)
        let workspace = try LlamaWorkspace(configuration: model.configuration, maximumTokens: 16)
        try model.forward(Array(tokens[window * 16 ..< (window + 1) * 16]), cache: cache, workspace: workspace, observer: recorder)
    }
    #expect(recorder.down.count == 64)
    let down = try #require(statistics.layers[1].downInput)
    for channel in [0, 17, 39] {
        let column = recorder.down.map { Double($0[channel]) }
        let mean = column.reduce(0, +) / 64
        let variance = column.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 64
        #expect(abs(Double(down.mean.values[channel]) - mean) < 1e-5)
        #expect(abs(Double(down.variance.values[channel]) - variance) < 1e-5 * max(1, variance))
        #expect(abs(Double(down.squaredNorm.values[channel]) - column.reduce(0) { $0 + $1 * $1 }) < 1e-4)
    }
    let cosines = zip(recorder.blockIn, recorder.blockOut).map { a, b -> Double in
        let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let na = a.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let nb = b.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        return dot / (na * nb)
    }
    #expect(abs(statistics.layers[2].blockInfluence - (1 - cosines.reduce(0, +) / 64)) < 1e-6)
    #expect(statistics.layers[2].blockInfluence > 0)
    #expect(statistics.layers[0].headOutputNorms(headDimension: 4).count == 9)
}

@Test func aBlockThatChangesNothingHasZeroBlockInfluence() throws {
    let dense = try tinyWeights(seed: 2)
    var blocks = dense.blocks
    blocks[1].attention?.output = Matrix(rows: 24, cols: 36)   // attention adds 0
    blocks[1].mlp?.down = Matrix(rows: 24, cols: 40)           // MLP adds 0
    let weights = try LlamaWeights(configuration: dense.configuration, tokenEmbedding: dense.tokenEmbedding, blocks: blocks,
                                   outputNorm: dense.outputNorm, output: nil)
    let statistics = try tinyStatistics(weights)
    #expect(abs(statistics.layers[1].blockInfluence) < 1e-6)
    #expect(statistics.layers[0].blockInfluence > 1e-3)
}

@Test func tooFewCalibrationTokensAreRefused() throws {
    let model = try LlamaModel(weights: tinyWeights())
    expectPruningError(.invalidCalibration) {
        _ = try Calibration.collect(model: model, tokens: randomTokens(10, seed: 1), spec: CalibrationSpec(windows: 2, windowLength: 8),
                                    modelChecksum: "m", corpusChecksum: "c")
    }
    expectPruningError(.invalidCalibration) {
        _ = try Calibration.collect(model: model, tokens: [], spec: CalibrationSpec(windows: 0), modelChecksum: "m", corpusChecksum: "c")
    }
}

// MARK: - Cache

@Test func theCacheReturnsStoredStatisticsOnlyForTheSameKey() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-calibration-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = CalibrationCache(directory: directory)
    let statistics = try tinyStatistics(tinyWeights())
    let key = CalibrationCache.Key(modelChecksum: statistics.modelChecksum, corpusChecksum: statistics.corpusChecksum, spec: statistics.spec)
    #expect(cache.load(key) == nil)
    try cache.store(statistics)
    #expect(cache.load(key) == statistics)
    let otherSpec = CalibrationSpec(windows: 8, windowLength: 16)
    #expect(cache.load(.init(modelChecksum: key.modelChecksum, corpusChecksum: key.corpusChecksum, spec: otherSpec)) == nil)
    #expect(cache.load(.init(modelChecksum: "another", corpusChecksum: key.corpusChecksum, spec: key.spec)) == nil)
    // A corrupt entry is a miss, not a crash.
    try Data("{".utf8).write(to: cache.url(for: key))
    #expect(cache.load(key) == nil)
}
