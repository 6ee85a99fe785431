import Dispatch
import Foundation
import PPFTensor

// MARK: - Loading from GGUF

extension LlamaWeights {
    /// Dequantizes every tensor of a LLaMA GGUF file to fp32, once.
    ///
    /// Loading checks everything (design habit 10): each tensor the
    /// configuration implies is present (`missingTensor`) with exactly the
    /// implied shape (`shapeMismatch`) and a type this code can dequantize
    /// (`unsupportedType`); the optional tensors are `output.weight` (absent:
    /// the head is tied to the embedding) and the per-block biases
    /// `attn_output.bias` / `ffn_down.bias`. Any other tensor is an
    /// `unexpectedTensor`: a file this code does not fully understand is refused.
    public init(gguf file: GGUFFile) throws {
        let c = try LlamaConfiguration(metadata: file.metadata, tensors: file.tensors)
        let d = c.embeddingLength
        var planned: [PlannedTensor] = []
        var claimed: Set<String> = []
        func plan(_ name: String, _ shape: [Int], optional: Bool = false) throws -> Int? {
            guard let info = file.tensorInfo(named: name) else {
                if optional { return nil }
                throw ModelError(.missingTensor, "\(file.url.lastPathComponent) has no tensor '\(name)', which the configuration requires")
            }
            guard info.shape == shape else {
                throw ModelError(.shapeMismatch, "'\(name)' is \(info.shape) but the configuration needs \(shape)")
            }
            guard info.type.isDequantizable else {
                throw ModelError(.unsupportedType, "'\(name)' has type \(info.type), which cannot be dequantized")
            }
            claimed.insert(name)
            planned.append(PlannedTensor(info: info))
            return planned.count - 1
        }

        // MARK: Plan: which tensor goes where, checked before any dequantization
        let embedding = try plan(LlamaTensorName.tokenEmbedding, [c.vocabularySize, d])!
        let outputNorm = try plan(LlamaTensorName.outputNorm, [d])!
        let output = try plan(LlamaTensorName.output, [c.vocabularySize, d], optional: true)
        var blockPlans: [(attention: [Int?]?, mlp: [Int?]?)] = []
        for layer in 0..<c.blockCount {
            let shape = c.block(layer)
            let q = shape.queryHeads * c.headDimension, kv = shape.keyValueHeads * c.headDimension
            let ff = shape.feedForwardLength
            let attention: [Int?]? = shape.hasAttention ? [
                try plan(LlamaTensorName.attentionNorm(layer), [d]),
                try plan(LlamaTensorName.attentionQuery(layer), [q, d]),
                try plan(LlamaTensorName.attentionKey(layer), [kv, d]),
                try plan(LlamaTensorName.attentionValue(layer), [kv, d]),
                try plan(LlamaTensorName.attentionOutput(layer), [d, q]),
                try plan(LlamaTensorName.attentionOutputBias(layer), [d], optional: true),
            ] : nil
            let mlp: [Int?]? = shape.hasMLP ? [
                try plan(LlamaTensorName.feedForwardNorm(layer), [d]),
                try plan(LlamaTensorName.feedForwardGate(layer), [ff, d]),
                try plan(LlamaTensorName.feedForwardUp(layer), [ff, d]),
                try plan(LlamaTensorName.feedForwardDown(layer), [d, ff]),
                try plan(LlamaTensorName.feedForwardDownBias(layer), [d], optional: true),
            ] : nil
            blockPlans.append((attention, mlp))
        }
        if let stray = file.tensors.first(where: { !claimed.contains($0.name) }) {
            throw ModelError(.unexpectedTensor,
                             "'\(stray.name)' \(stray.shape) is not part of a LLaMA model with this configuration (\(file.tensors.count - claimed.count) tensor(s) unexplained)")
        }

        // MARK: Dequantize, tensors spread over the cores
        let values = try Self.dequantizeAll(planned, from: file)
        func matrix(_ index: Int?) -> Matrix {
            let info = planned[index!].info
            // The shape was checked against the plan above, so the count matches.
            return try! Matrix(rows: info.shape[0], cols: info.shape[1], storage: values[index!])
        }
        func vector(_ index: Int?) -> [Float]? { index.map { values[$0] } }

        let blocks = blockPlans.map { plan in
            Block(
                attention: plan.attention.map { a in
                    Attention(norm: vector(a[0])!, query: matrix(a[1]), key: matrix(a[2]), value: matrix(a[3]),
                              output: matrix(a[4]), outputBias: vector(a[5]))
                },
                mlp: plan.mlp.map { m in
                    MLP(norm: vector(m[0])!, gate: matrix(m[1]), up: matrix(m[2]), down: matrix(m[3]), downBias: vector(m[4]))
                })
        }
        try self.init(configuration: c, tokenEmbedding: matrix(embedding), blocks: blocks,
                      outputNorm: vector(outputNorm)!, output: output.map { matrix($0) })
    }

    /// One tensor scheduled for dequantization.
    private struct PlannedTensor: Sendable {
        let info: GGUFTensorInfo
    }

    /// Dequantizes `planned` concurrently (one tensor per task), preserving order.
    private static func dequantizeAll(_ planned: [PlannedTensor], from file: GGUFFile) throws -> [[Float]] {
        final class Results: @unchecked Sendable {
            // @unchecked: each index is written by exactly one iteration of concurrentPerform.
            var values: [[Float]]
            var errors: [(any Error)?]
            init(_ count: Int) {
                values = Array(repeating: [], count: count)
                errors = Array(repeating: nil, count: count)
            }
        }
        let results = Results(planned.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: planned.count) { index in
            do {
                let value = try file.dequantize(planned[index].info)
                lock.withLock { results.values[index] = value }
            } catch {
                lock.withLock { results.errors[index] = error }
            }
        }
        if let error = results.errors.compactMap({ $0 }).first { throw error }
        return results.values
    }
}

// MARK: - LlamaModel loading

extension LlamaModel {
    /// Opens a GGUF checkpoint, checks it completely and dequantizes it to fp32.
    public static func load(contentsOf url: URL) throws -> LlamaModel {
        try LlamaModel(weights: LlamaWeights(gguf: GGUFFile.open(url)))
    }
}
