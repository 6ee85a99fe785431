import Foundation
import Testing
@testable import PPFModel
import PPFTensor

// MARK: - Tiny models built in code (no download)

/// d = 32, 4 query heads sharing 2 KV heads (hd = 8), FFN 48, 2 blocks, vocab 64.
func tinyConfiguration(contextLength: Int = 64) throws -> LlamaConfiguration {
    try LlamaConfiguration(blockCount: 2, embeddingLength: 32, headCounts: [4], keyValueHeadCounts: [2],
                           feedForwardLengths: [48], rmsNormEpsilon: 1e-5, ropeFrequencyBase: 10_000,
                           contextLength: contextLength, vocabularySize: 64)
}

func tinyModel(seed: UInt64 = 1, contextLength: Int = 64, withBiases: Bool = false) throws -> LlamaModel {
    try LlamaModel(weights: .random(configuration: tinyConfiguration(contextLength: contextLength),
                                    seed: seed, withBiases: withBiases))
}

func randomTokens(_ count: Int, vocabulary: Int = 64, seed: UInt64) -> [Int] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { _ in Int.random(in: 0..<vocabulary, using: &g) }
}

func maxAbsDifference(_ x: [Float], _ y: [Float]) -> Float {
    precondition(x.count == y.count)
    return zip(x, y).map { abs($0 - $1) }.max() ?? 0
}

// MARK: - A naive forward pass, written from the paper's equations

/// Scalar, Double-precision LLaMA forward pass: the independent check of the
/// BLAS implementation (GQA head mapping, RoPE positions, causal mask, biases).
func naiveLogits(_ model: LlamaModel, _ tokens: [Int]) -> [[Double]] {
    let c = model.configuration, w = model.weights
    let d = c.embeddingLength, hd = c.headDimension, t = tokens.count
    func rmsNorm(_ v: [Double], _ g: [Float]) -> [Double] {
        let rms = (v.map { $0 * $0 }.reduce(0, +) / Double(v.count) + Double(c.rmsNormEpsilon)).squareRoot()
        return v.enumerated().map { $0.element / rms * Double(g[$0.offset]) }
    }
    func linear(_ m: Matrix, _ v: [Double]) -> [Double] {
        (0..<m.rows).map { r in (0..<m.cols).reduce(0.0) { $0 + Double(m[r, $1]) * v[$1] } }
    }
    func rope(_ v: [Double], heads: Int, position: Int) -> [Double] {
        var out = v
        for h in 0..<heads {
            for i in 0..<(hd / 2) {
                let theta = Double(position) * pow(Double(c.ropeFrequencyBase), -2 * Double(i) / Double(hd))
                let a = v[h * hd + 2 * i], b = v[h * hd + 2 * i + 1]
                out[h * hd + 2 * i] = a * cos(theta) - b * sin(theta)
                out[h * hd + 2 * i + 1] = a * sin(theta) + b * cos(theta)
            }
        }
        return out
    }
    var x = tokens.map { token in (0..<d).map { Double(w.tokenEmbedding[token, $0]) } }
    for (layer, block) in w.blocks.enumerated() {
        let shape = c.block(layer)
        if let a = block.attention {
            let xn = x.map { rmsNorm($0, a.norm) }
            let q = xn.enumerated().map { rope(linear(a.query, $0.element), heads: shape.queryHeads, position: $0.offset) }
            let k = xn.enumerated().map { rope(linear(a.key, $0.element), heads: shape.keyValueHeads, position: $0.offset) }
            let v = xn.map { linear(a.value, $0) }
            for i in 0..<t {
                var heads = [Double](repeating: 0, count: shape.queryHeads * hd)
                for h in 0..<shape.queryHeads {
                    let g = h / (shape.queryHeads / shape.keyValueHeads)
                    let scores = (0...i).map { j in
                        (0..<hd).reduce(0.0) { $0 + q[i][h * hd + $1] * k[j][g * hd + $1] } / Double(hd).squareRoot()
                    }
                    let m = scores.max()!
                    let e = scores.map { exp($0 - m) }
                    let total = e.reduce(0, +)
                    for j in 0...i {
                        for e2 in 0..<hd { heads[h * hd + e2] += e[j] / total * v[j][g * hd + e2] }
                    }
                }
                let o = linear(a.output, heads)
                for e in 0..<d { x[i][e] += o[e] + Double(a.outputBias?[e] ?? 0) }
            }
        }
        if let m = block.mlp {
            for i in 0..<t {
                let xn = rmsNorm(x[i], m.norm)
                let gate = linear(m.gate, xn), up = linear(m.up, xn)
                let hidden = zip(gate, up).map { g, u in g / (1 + exp(-g)) * u }
                let down = linear(m.down, hidden)
                for e in 0..<d { x[i][e] += down[e] + Double(m.downBias?[e] ?? 0) }
            }
        }
    }
    return x.map { row in linear(w.outputHead, rmsNorm(row, w.outputNorm)) }
}

// MARK: - Tests

@Test func blasForwardPassMatchesANaiveDoublePrecisionForwardPass() throws {
    let model = try tinyModel(seed: 11, withBiases: true)
    let tokens = randomTokens(12, seed: 5)
    let logits = try model.logits(for: tokens)
    let reference = naiveLogits(model, tokens)
    for i in 0..<tokens.count {
        #expect(maxAbsDifference(logits.row(i), reference[i].map(Float.init)) < 1e-4)
    }
}

@Test func untiedOutputHeadIsUsedInsteadOfTheEmbedding() throws {
    let configuration = try tinyConfiguration()
    let model = try LlamaModel(weights: .random(configuration: configuration, seed: 4, tiedOutput: false))
    let tokens = randomTokens(5, seed: 2)
    let logits = try model.logits(for: tokens)
    let reference = naiveLogits(model, tokens)
    #expect(model.weights.output != nil)
    #expect(maxAbsDifference(logits.row(4), reference[4].map(Float.init)) < 1e-4)
}

@Test func zeroBiasesChangeNoLogitAndNonZeroBiasesDo() throws {
    let plain = try tinyModel(seed: 3)
    let tokens = randomTokens(8, seed: 9)
    var zeroed = plain.weights.blocks
    for index in zeroed.indices {
        zeroed[index].attention?.outputBias = [Float](repeating: 0, count: 32)
        zeroed[index].mlp?.downBias = [Float](repeating: 0, count: 32)
    }
    let withZeroBias = try LlamaModel(weights: LlamaWeights(
        configuration: plain.configuration, tokenEmbedding: plain.weights.tokenEmbedding,
        blocks: zeroed, outputNorm: plain.weights.outputNorm, output: nil))
    // Exact: the same shapes and weights, and adding a bias of +0 changes no value.
    #expect(try plain.logits(for: tokens) == withZeroBias.logits(for: tokens))

    zeroed[0].mlp?.downBias = [Float](repeating: 0.5, count: 32)
    let withBias = try LlamaModel(weights: LlamaWeights(
        configuration: plain.configuration, tokenEmbedding: plain.weights.tokenEmbedding,
        blocks: zeroed, outputNorm: plain.weights.outputNorm, output: nil))
    #expect(try plain.logits(for: tokens) != withBias.logits(for: tokens))
}

@Test func prunableParameterCountCoversOnlyAttentionAndMLPProjections() throws {
    let weights = try LlamaWeights.random(configuration: tinyConfiguration(), seed: 1)
    // per block: q 32·32 + k 16·32 + v 16·32 + o 32·32 + gate/up/down 3·48·32
    #expect(weights.prunableParameterCount == 2 * (1024 + 512 + 512 + 1024 + 3 * 1536))
}
