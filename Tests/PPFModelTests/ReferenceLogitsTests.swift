import Foundation
import Testing
@testable import PPFModel
import PPFTensor

// MARK: - Fixtures from infra/reference (llama.cpp and an independent numpy fp32 forward pass)

/// Reads the fixtures that `infra/reference/make_fixtures.py` wrote next to this file.
enum ReferenceFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    struct Logits: Decodable {
        struct Position: Decodable {
            let position: Int
            let top10: [[Double]]            // [token id, logit]
            let logsumexp: Double
            let next_token: Int?
            let next_token_logprob: Double?
        }
        struct Comparison: Decodable {
            let max_abs_delta_logit: Double
            let mean_abs_delta_logit: Double
            let max_abs_delta_next_token_logprob: Double
            let numpy_fp32_positions: [Position]
        }
        let tokens: [Int]
        let n_vocab: Int
        let positions: [Position]
        let llama_cpp_vs_numpy_fp32: Comparison
    }

    static func logits() throws -> Logits {
        try JSONDecoder().decode(Logits.self, from: Data(contentsOf: directory.appendingPathComponent("logits_reference.json")))
    }

    /// A little-endian float32 vector file.
    static func floats(_ name: String) throws -> [Float] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }
}

private func logSoftmax(_ row: [Float]) -> [Double] {
    let m = Double(row.max()!)
    let lse = m + log(row.reduce(0.0) { $0 + exp(Double($1) - m) })
    return row.map { Double($0) - lse }
}

// MARK: - Against the numpy fp32 forward pass (same dequantized weights, same maths)

@Test(.enabled(if: RealModel.isAvailable, RealModel.skipReason))
func realModelLogitsMatchTheNumpyFP32ReferenceTightly() throws {
    let model = try #require(RealLlama.model)
    let fixture = try ReferenceFixtures.logits()
    let logits = try model.logits(for: fixture.tokens)

    // Every logit of the last position, within 1e-3 relative (floor 1e-3 absolute).
    let last = logits.row(fixture.tokens.count - 1)
    let numpyLast = try ReferenceFixtures.floats("logits_last_position_fp32.f32")
    #expect(numpyLast.count == fixture.n_vocab)
    let worst = zip(last, numpyLast).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
    #expect(worst < 1e-3, "max relative logit difference \(worst)")

    // At every position: the top-10 logits and the next token's log-probability.
    for reference in fixture.llama_cpp_vs_numpy_fp32.numpy_fp32_positions {
        let row = logits.row(reference.position)
        for pair in reference.top10 {
            let (token, value) = (Int(pair[0]), pair[1])
            #expect(abs(Double(row[token]) - value) < 1e-3 * max(1, abs(value)), "position \(reference.position) token \(token)")
        }
        if let next = reference.next_token_logprob, reference.position + 1 < fixture.tokens.count {
            let ours = logSoftmax(row)[fixture.tokens[reference.position + 1]]
            #expect(abs(ours - next) < 1e-3, "position \(reference.position): log p \(ours) vs \(next)")
        }
    }
}

// MARK: - Against llama.cpp (quantized activations: a wider, measured gap)

/// llama.cpp multiplies Q4_1 weights by activations quantized to Q8_1, so its
/// logits differ from any fp32 engine. infra/reference measured that gap on
/// these 16 positions between llama.cpp and numpy fp32: max |Δlogit| 3.87,
/// mean 0.32, max |Δ log p(next)| 0.21, top-1 agreement 16/16 (and with
/// llama.cpp run on fp32-dequantized weights the gap falls to 1.1e-4, so the
/// gap is quantization, not a model difference). PPF computes the numpy fp32
/// result, so it must stay within that observed gap plus 25%.
@Test(.enabled(if: RealModel.isAvailable, RealModel.skipReason))
func realModelLogitsStayWithinTheObservedLlamaCppQuantizationGap() throws {
    let model = try #require(RealLlama.model)
    let fixture = try ReferenceFixtures.logits()
    let observed = fixture.llama_cpp_vs_numpy_fp32
    let logits = try model.logits(for: fixture.tokens)

    let last = logits.row(fixture.tokens.count - 1)
    let llamaLast = try ReferenceFixtures.floats("logits_last_position.f32")
    let deltas = zip(last, llamaLast).map { Double(abs($0 - $1)) }
    #expect(deltas.max()! <= 1.25 * observed.max_abs_delta_logit)
    #expect(deltas.reduce(0, +) / Double(deltas.count) <= 1.25 * observed.mean_abs_delta_logit)

    for reference in fixture.positions {
        let row = logits.row(reference.position)
        let top1 = row.indices.max(by: { row[$0] < row[$1] })!
        #expect(top1 == Int(reference.top10[0][0]), "position \(reference.position): top-1 \(top1) vs llama.cpp \(reference.top10[0][0])")
        for pair in reference.top10 {
            #expect(abs(Double(row[Int(pair[0])]) - pair[1]) <= 1.25 * observed.max_abs_delta_logit)
        }
        if let next = reference.next_token_logprob, reference.position + 1 < fixture.tokens.count {
            let ours = logSoftmax(row)[fixture.tokens[reference.position + 1]]
            #expect(abs(ours - next) <= 1.25 * observed.max_abs_delta_next_token_logprob,
                    "position \(reference.position): log p \(ours) vs llama.cpp \(next)")
        }
    }
}
