import Foundation
import PPFContracts
import PPFModel
import PPFTensor

// MARK: - GGUFArchitecture

/// The llama.cpp architecture a pruned model is written as.
///
/// llama.cpp's `llama` architecture reads the per-layer keys but builds every
/// layer with **layer 0's** head and FFN counts (`LLAMA_LOAD_LOCALS` in
/// `src/llama-model.h`, used by `src/models/llama.cpp`), so a non-uniform
/// `llama` file fails to load ("tensor … has wrong shape"). Its `deci`
/// architecture (Llama-3.1-Nemotron, `src/models/deci.cpp`) is the same
/// network with per-layer `n_head(il)`, `n_head_kv(il)` and `n_ff(il)`, the
/// same tensor names, the same adjacent-pair RoPE, optional
/// `attn_output.bias` / `ffn_down.bias`, and attention-free blocks
/// (head count 0). Measured with llama-cpp-python 0.3.36 in
/// infra/reference/export (docs/export.md).
public enum GGUFArchitecture: String, Sendable, Codable, CaseIterable {
    /// `llama` when the model is uniform, `deci` otherwise.
    case automatic
    /// `general.architecture = llama`: uniform models only; loads in every LLaMA tool.
    case llama
    /// `general.architecture = deci`: per-layer shapes, llama.cpp only.
    case deci
}

// MARK: - GGUFExportOptions

/// How ``GGUFExporter`` writes a model.
public struct GGUFExportOptions: Sendable {
    /// Format of the weight matrices (default ``ExportPrecision/default``, F16).
    public var precision: ExportPrecision
    /// Architecture to write (default `.automatic`).
    public var architecture: GGUFArchitecture
    /// Plan id, achieved ratio and the like, written as `ppf.*` keys.
    public var provenance: ExportProvenance

    /// Options with documented defaults.
    public init(precision: ExportPrecision = .default, architecture: GGUFArchitecture = .automatic,
                provenance: ExportProvenance = ExportProvenance()) {
        self.precision = precision
        self.architecture = architecture
        self.provenance = provenance
    }
}

// MARK: - GGUFExporter

/// Writes a (pruned) LLaMA model as a GGUF file that llama.cpp loads and
/// PPF's own loader reads back exactly (F32) or to F16 rounding.
///
/// What the file holds:
/// - the hyperparameters under `<arch>.*`, with `attention.head_count`,
///   `head_count_kv` and `feed_forward_length` as int32 arrays where blocks
///   differ and scalars where they agree, `block_count` after dropped blocks
///   are removed (tensors renumbered `blk.0…`), and `attention.key_length` /
///   `value_length` / `rope.dimension_count` (after pruning heads,
///   `embedding_length / head_count` is no longer the head size);
/// - the source's `tokenizer.*` keys unchanged, its `general.*` keys (with
///   `general.name` suffixed and `general.file_type` set to the precision),
///   and the source's other `<arch>.*` keys this code does not model (rope
///   scaling, for example), renamed to the output architecture;
/// - provenance under `ppf.*`: format version, plan id, achieved ratio,
///   metric, source checksum, and each block's index before compaction;
/// - matrices in the chosen precision; norms and the optional
///   `blk.N.attn_output.bias` / `blk.N.ffn_down.bias` in F32.
///
/// Writing is atomic (``GGUFWriter/write(to:)``): every check runs before
/// the first byte, and a failure leaves no file behind. It is blocking I/O:
/// call it from a dedicated queue in services.
public enum GGUFExporter {
    /// Version of the `ppf.*` keys' meaning; bump when they change.
    public static let formatVersion: UInt32 = 1

    /// Keys of the source `general.*` namespace that describe the source's
    /// encoding rather than the model, so they are not carried over.
    static let droppedGeneralKeys: Set<String> = [
        "general.architecture", "general.alignment", "general.file_type", "general.quantization_version",
    ]

    /// Exports `weights` to `url`.
    ///
    /// - Parameters:
    ///   - weights: the pruned model (dropped blocks may still be present as
    ///     blocks with neither attention nor MLP; they are removed).
    ///   - sourceMetadata: the source checkpoint's metadata, whose tokenizer
    ///     and `general.*` keys are carried over (e.g. `GGUFFile.metadata`).
    ///   - url: the file to write (replaced if it exists).
    /// - Returns: what was written, for reports.
    /// - Throws: ``ExportError`` (`unexpressible`, `unrepresentableValue`,
    ///   `invalidModel`, `io`); on error no file is created or changed.
    @discardableResult
    public static func export(_ weights: LlamaWeights, sourceMetadata: GGUFMetadata, to url: URL,
                              options: GGUFExportOptions = GGUFExportOptions()) throws(ExportError) -> GGUFExportSummary {
        let model = try CompactedModel(weights)
        let architecture = try resolve(options.architecture, for: model)
        let writer = try makeWriter(model, architecture: architecture, sourceMetadata: sourceMetadata, options: options)
        do {
            try writer.write(to: url)
        } catch let error as ModelError {
            throw ExportError(error.isRetriable ? .io : .invalidModel, "cannot write \(url.path): \(error.message)")
        } catch {
            throw ExportError(.io, "cannot write \(url.path): \(error)")
        }
        return GGUFExportSummary(url: url, architecture: architecture, precision: options.precision,
                                 blockCount: model.configuration.blockCount,
                                 removedBlockIndices: model.removedBlockIndices,
                                 parameterCount: model.weights.parameterCount)
    }

    // MARK: - Architecture

    /// The concrete architecture for `model`, or `unexpressible` with the reason.
    public static func resolve(_ requested: GGUFArchitecture, for model: CompactedModel) throws(ExportError) -> GGUFArchitecture {
        let c = model.configuration
        switch requested {
        case .automatic:
            return try resolve(model.isUniform ? .llama : .deci, for: model)
        case .llama:
            guard model.isUniform else {
                throw ExportError(.unexpressible,
                                  "llama.cpp's 'llama' architecture builds every block with block 0's shape, but the blocks differ (heads \(c.headCounts), KV heads \(c.keyValueHeadCounts), FFN \(c.feedForwardLengths)); export as 'deci' (or automatic)")
            }
            return .llama
        case .deci:
            // llama.cpp derives the head size from block 0 and skips it when
            // block 0 has no heads, so block 0 must keep its attention.
            guard c.block(0).hasAttention else {
                throw ExportError(.unexpressible,
                                  "block \(model.sourceBlockIndices[0]) (the first kept block) has no attention; llama.cpp reads the head size from the first block, so it must keep at least one KV group")
            }
            // llama.cpp (deci, vendored 0c1e570) aborts while allocating a block
            // that has attention but no MLP; refuse rather than write a file it cannot load.
            if let layer = c.blocks.firstIndex(where: { $0.hasAttention && !$0.hasMLP }) {
                throw ExportError(.unexpressible,
                                  "block \(model.sourceBlockIndices[layer]) keeps attention but no MLP channel; llama.cpp cannot load such a block (keep at least one MLP channel, or drop the block whole)")
            }
            return .deci
        }
    }

    // MARK: - Metadata and tensors

    /// The complete writer for `model` (metadata and encoded tensors); no file is touched.
    static func makeWriter(_ model: CompactedModel, architecture: GGUFArchitecture, sourceMetadata: GGUFMetadata,
                           options: GGUFExportOptions) throws(ExportError) -> GGUFWriter {
        try checkRepresentable(model.weights, precision: options.precision)
        let prefix = architecture.rawValue + "."
        let sourceArchitecture = (try? sourceMetadata.stringIfPresent("general.architecture")) ?? nil
        let sourcePrefix = sourceArchitecture.map { $0 + "." }
        let modelled = Set(LlamaConfiguration.CodingKeys.allCases.map { String($0.rawValue.dropFirst("llama.".count)) })

        var base = GGUFMetadata()
        base["general.architecture"] = .string(architecture.rawValue)
        for entry in sourceMetadata.entries {
            if entry.key.hasPrefix("general.") {
                if !droppedGeneralKeys.contains(entry.key) { base[entry.key] = entry.value }
            } else if entry.key.hasPrefix("tokenizer.") {
                base[entry.key] = entry.value
            } else if let sourcePrefix, entry.key.hasPrefix(sourcePrefix) {
                let field = String(entry.key.dropFirst(sourcePrefix.count))
                if !modelled.contains(field) { base[prefix + field] = entry.value }
            }
        }
        let sourceName = (try? sourceMetadata.stringIfPresent("general.name")) ?? nil
        base["general.name"] = .string((sourceName ?? "LLaMA") + options.provenance.nameSuffix)
        base["general.file_type"] = .uint32(options.precision.ggufFileType)
        writeProvenance(options.provenance, model: model, into: &base)

        var writer: GGUFWriter
        do {
            writer = try model.weights.makeGGUFWriter(baseMetadata: base, matrixType: options.precision.ggmlType)
        } catch let error as ModelError {
            throw ExportError(.invalidModel, "cannot encode the model: \(error.message)")
        } catch {
            throw ExportError(.invalidModel, "cannot encode the model: \(error)")
        }
        if architecture != .llama {
            // The engine writes `llama.*`; the same fields under the chosen architecture.
            writer.metadata = GGUFMetadata(writer.metadata.entries.map { entry in
                guard entry.key.hasPrefix("llama.") else { return entry }
                return GGUFMetadata.Entry(key: prefix + entry.key.dropFirst("llama.".count), value: entry.value)
            })
            writer.metadata["general.architecture"] = .string(architecture.rawValue)
        }
        return writer
    }

    /// Writes the `ppf.*` keys.
    static func writeProvenance(_ provenance: ExportProvenance, model: CompactedModel, into metadata: inout GGUFMetadata) {
        metadata["ppf.format_version"] = .uint32(formatVersion)
        if let id = provenance.planID { metadata["ppf.plan_id"] = .string(id) }
        if let ratio = provenance.achievedRatio { metadata["ppf.achieved_ratio"] = .float64(ratio) }
        if let metric = provenance.metric { metadata["ppf.metric"] = .string(metric) }
        if let sha = provenance.sourceSHA256 { metadata["ppf.source_sha256"] = .string(sha) }
        metadata["ppf.source_block_index"] = .array(.int32(model.sourceBlockIndices.map { Int32($0) }))
        metadata["ppf.prunable_parameter_count"] = .uint64(UInt64(model.weights.prunableParameterCount))
    }

    /// Checks every weight fits `precision` before anything is encoded or written.
    static func checkRepresentable(_ weights: LlamaWeights, precision: ExportPrecision) throws(ExportError) {
        // Norms and biases are written as F32 whatever the precision; they must still be finite.
        try ExportPrecision.f32.checkRepresentable(weights.outputNorm, tensor: LlamaTensorName.outputNorm)
        try precision.checkRepresentable(weights.tokenEmbedding.storage, tensor: LlamaTensorName.tokenEmbedding)
        if let output = weights.output { try precision.checkRepresentable(output.storage, tensor: LlamaTensorName.output) }
        for (layer, block) in weights.blocks.enumerated() {
            if let a = block.attention {
                try ExportPrecision.f32.checkRepresentable(a.norm, tensor: LlamaTensorName.attentionNorm(layer))
                try precision.checkRepresentable(a.query.storage, tensor: LlamaTensorName.attentionQuery(layer))
                try precision.checkRepresentable(a.key.storage, tensor: LlamaTensorName.attentionKey(layer))
                try precision.checkRepresentable(a.value.storage, tensor: LlamaTensorName.attentionValue(layer))
                try precision.checkRepresentable(a.output.storage, tensor: LlamaTensorName.attentionOutput(layer))
                if let b = a.outputBias { try ExportPrecision.f32.checkRepresentable(b, tensor: LlamaTensorName.attentionOutputBias(layer)) }
            }
            if let m = block.mlp {
                try ExportPrecision.f32.checkRepresentable(m.norm, tensor: LlamaTensorName.feedForwardNorm(layer))
                try precision.checkRepresentable(m.gate.storage, tensor: LlamaTensorName.feedForwardGate(layer))
                try precision.checkRepresentable(m.up.storage, tensor: LlamaTensorName.feedForwardUp(layer))
                try precision.checkRepresentable(m.down.storage, tensor: LlamaTensorName.feedForwardDown(layer))
                if let b = m.downBias { try ExportPrecision.f32.checkRepresentable(b, tensor: LlamaTensorName.feedForwardDownBias(layer)) }
            }
        }
    }
}

// MARK: - GGUFExportSummary

/// What ``GGUFExporter/export(_:sourceMetadata:to:options:)`` wrote.
public struct GGUFExportSummary: Sendable, Equatable {
    /// The file written.
    public let url: URL
    /// The architecture written (`llama` or `deci`, never `automatic`).
    public let architecture: GGUFArchitecture
    /// The matrices' precision.
    public let precision: ExportPrecision
    /// Blocks in the file.
    public let blockCount: Int
    /// Blocks of the pruned model that were dropped whole (indices before renumbering).
    public let removedBlockIndices: [Int]
    /// All parameters in the file (tied head counted once).
    public let parameterCount: Int
}
