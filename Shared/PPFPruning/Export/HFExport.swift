import Foundation
import PPFContracts
import PPFModel
import PPFTensor

// MARK: - HFExportOptions

/// How ``HFExporter`` writes a model.
public struct HFExportOptions: Sendable {
    /// Format of the weight matrices (default ``ExportPrecision/default``, F16).
    public var precision: ExportPrecision
    /// Plan id, achieved ratio and the like (safetensors `__metadata__`, config `ppf_*`).
    public var provenance: ExportProvenance
    /// Whether to rebuild `tokenizer.json` / `tokenizer_config.json` from the
    /// GGUF vocabulary (default true; skipped, with the reason in the summary,
    /// when the vocabulary has no faithful HF form).
    public var includeTokenizer: Bool

    /// Options with documented defaults.
    public init(precision: ExportPrecision = .default, provenance: ExportProvenance = ExportProvenance(),
                includeTokenizer: Bool = true) {
        self.precision = precision
        self.provenance = provenance
        self.includeTokenizer = includeTokenizer
    }
}

// MARK: - HFExporter

/// Writes a uniformly shaped (pruned) LLaMA as a Hugging Face checkpoint
/// folder that `LlamaForCausalLM.from_pretrained(folder)` loads:
/// `model.safetensors`, `config.json` (``HFLlamaConfig``) and, when the
/// vocabulary allows, `tokenizer.json` + `tokenizer_config.json`.
///
/// HF's `LlamaConfig` has one head count, KV-head count and MLP width for
/// all layers and no way to skip a sublayer, so a model whose kept blocks
/// differ is refused with `unexpressible` (export it as GGUF instead).
/// Dropped blocks are removed and the rest renumbered, as in GGUF. Q and K
/// rows are converted from GGUF's interleaved RoPE order to HF's half-split
/// order (``RoPERowOrder``).
///
/// All checks run before the first file is created; the files are staged
/// under temporary names and renamed into place only when all are written,
/// so a failure leaves no partial file (and removes a folder it created).
public enum HFExporter {
    /// The weights file's name.
    public static let weightsFileName = "model.safetensors"
    /// The configuration file's name.
    public static let configFileName = "config.json"

    /// Exports `weights` into `directory` (created if missing; files of the
    /// same names are replaced).
    ///
    /// - Parameter sourceMetadata: the source GGUF's metadata: tokenizer and
    ///   special token ids come from it.
    /// - Throws: ``ExportError`` `unexpressible` for non-uniform shapes,
    ///   `unrepresentableValue`, `invalidModel`, `io`.
    @discardableResult
    public static func export(_ weights: LlamaWeights, sourceMetadata: GGUFMetadata, to directory: URL,
                              options: HFExportOptions = HFExportOptions()) throws(ExportError) -> HFExportSummary {
        let model = try CompactedModel(weights)
        try checkExpressible(model)
        try GGUFExporter.checkRepresentable(model.weights, precision: options.precision)
        let writer = try makeSafetensors(model, precision: options.precision, provenance: options.provenance)
        let config = HFLlamaConfig(model: model, precision: options.precision, provenance: options.provenance,
                                   bosTokenID: (try? sourceMetadata.integerIfPresent("tokenizer.ggml.bos_token_id")) ?? nil,
                                   eosTokenID: (try? sourceMetadata.integerIfPresent("tokenizer.ggml.eos_token_id")) ?? nil)
        let configBytes: [UInt8]
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            configBytes = [UInt8](try encoder.encode(config))
        } catch {
            throw ExportError(.invalidModel, "cannot encode config.json: \(error)")
        }
        var tokenizer: HFTokenizerFiles?
        var tokenizerSkipped: String?
        if options.includeTokenizer {
            switch HFTokenizerFiles.make(from: sourceMetadata, contextLength: model.configuration.contextLength) {
            case .success(let files): tokenizer = files
            case .failure(let error): tokenizerSkipped = error.message
            }
        } else {
            tokenizerSkipped = "not requested"
        }

        // MARK: Write: everything above is checked, now touch the disk
        let created = try prepare(directory)
        var files = StagedFiles(directory: directory)
        do {
            try files.stage(weightsFileName, writer.chunks())
            try files.stage(configFileName, [configBytes])
            if let tokenizer {
                try files.stage("tokenizer.json", [tokenizer.tokenizerJSON])
                try files.stage("tokenizer_config.json", [tokenizer.tokenizerConfigJSON])
            }
            try files.commit()
        } catch {
            files.discard()
            if created { try? FileManager.default.removeItem(at: directory) }
            throw error
        }
        return HFExportSummary(directory: directory, configuration: config, tensorNames: writer.tensorNames,
                               removedBlockIndices: model.removedBlockIndices, tokenizerSkipped: tokenizerSkipped)
    }

    // MARK: - Checks

    /// Throws `unexpressible` unless every kept block has the same full shape.
    public static func checkExpressible(_ model: CompactedModel) throws(ExportError) {
        guard !model.isUniform else { return }
        let c = model.configuration
        let partial = c.blocks.indices.filter { !c.block($0).hasAttention || !c.block($0).hasMLP }
        let reason = partial.isEmpty
            ? "its kept blocks differ (query heads \(c.headCounts), KV heads \(c.keyValueHeadCounts), FFN \(c.feedForwardLengths))"
            : "blocks \(partial.map { model.sourceBlockIndices[$0] }) lack attention or MLP"
        throw ExportError(.unexpressible,
                          "HF LlamaForCausalLM needs one head count, KV-head count and MLP width for every layer, but \(reason); export this model as GGUF, which stores per-layer shapes")
    }

    /// Creates `directory` if needed; returns whether it was created.
    private static func prepare(_ directory: URL) throws(ExportError) -> Bool {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw ExportError(.invalidOptions, "'\(directory.path)' exists and is not a folder; an HF export is a folder")
            }
            return false
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        } catch {
            throw ExportError(.io, "cannot create the folder '\(directory.path)': \(error.localizedDescription)")
        }
        return true
    }

    // MARK: - Tensors

    /// Every tensor under its HF name; Q/K rows reordered for HF's RoPE.
    static func makeSafetensors(_ model: CompactedModel, precision: ExportPrecision,
                                provenance: ExportProvenance) throws(ExportError) -> SafetensorsWriter {
        let w = model.weights
        let c = model.configuration
        let hd = c.headDimension
        let attentionBias = w.blocks.contains { $0.attention?.outputBias != nil }
        let mlpBias = w.blocks.contains { $0.mlp?.downBias != nil }
        var metadata = ["format": "pt", "ppf_format_version": "\(GGUFExporter.formatVersion)",
                        "ppf_source_block_index": model.sourceBlockIndices.map(String.init).joined(separator: ",")]
        metadata["ppf_plan_id"] = provenance.planID
        metadata["ppf_achieved_ratio"] = provenance.achievedRatio.map { "\($0)" }
        metadata["ppf_metric"] = provenance.metric
        metadata["ppf_source_sha256"] = provenance.sourceSHA256
        var writer = SafetensorsWriter(metadata: metadata)
        let matrixType = SafetensorsDType(precision)
        func add(_ name: String, _ m: Matrix) throws(ExportError) {
            try writer.addTensor(name: name, shape: [m.rows, m.cols], values: m.storage, as: matrixType)
        }
        func add(_ name: String, _ v: [Float]) throws(ExportError) {
            try writer.addTensor(name: name, shape: [v.count], values: v, as: .f32)
        }
        func zeros(_ n: Int) -> [Float] { Array(repeating: 0, count: n) }

        try add(HFLlamaTensorName.tokenEmbedding, w.tokenEmbedding)
        for (i, block) in w.blocks.enumerated() {
            // Uniform models have both sublayers in every block (checked above).
            guard let a = block.attention, let m = block.mlp else {
                throw ExportError(.unexpressible, "block \(i) lacks a sublayer")
            }
            try add(HFLlamaTensorName.attentionNorm(i), a.norm)
            try add(HFLlamaTensorName.query(i), RoPERowOrder.halfSplit(fromInterleaved: a.query, headDimension: hd))
            try add(HFLlamaTensorName.key(i), RoPERowOrder.halfSplit(fromInterleaved: a.key, headDimension: hd))
            try add(HFLlamaTensorName.value(i), a.value)
            try add(HFLlamaTensorName.output(i), a.output)
            if attentionBias {
                // HF biases q, k, v and o together; PPF only ever has an o bias.
                try add(HFLlamaTensorName.attentionBias(i, "q_proj"), zeros(a.query.rows))
                try add(HFLlamaTensorName.attentionBias(i, "k_proj"), zeros(a.key.rows))
                try add(HFLlamaTensorName.attentionBias(i, "v_proj"), zeros(a.value.rows))
                try add(HFLlamaTensorName.attentionBias(i, "o_proj"), a.outputBias ?? zeros(c.embeddingLength))
            }
            try add(HFLlamaTensorName.feedForwardNorm(i), m.norm)
            try add(HFLlamaTensorName.gate(i), m.gate)
            try add(HFLlamaTensorName.up(i), m.up)
            try add(HFLlamaTensorName.down(i), m.down)
            if mlpBias {
                try add(HFLlamaTensorName.mlpBias(i, "gate_proj"), zeros(m.gate.rows))
                try add(HFLlamaTensorName.mlpBias(i, "up_proj"), zeros(m.up.rows))
                try add(HFLlamaTensorName.mlpBias(i, "down_proj"), m.downBias ?? zeros(c.embeddingLength))
            }
        }
        try add(HFLlamaTensorName.outputNorm, w.outputNorm)
        if let output = w.output { try add(HFLlamaTensorName.output, output) }
        return writer
    }
}

// MARK: - HFExportSummary

/// What ``HFExporter/export(_:sourceMetadata:to:options:)`` wrote.
public struct HFExportSummary: Sendable {
    /// The checkpoint folder.
    public let directory: URL
    /// The `config.json` written.
    public let configuration: HFLlamaConfig
    /// The tensors in `model.safetensors`, in file order.
    public let tensorNames: [String]
    /// Blocks dropped whole (indices before renumbering).
    public let removedBlockIndices: [Int]
    /// Why no tokenizer files were written, or `nil` when they were.
    public let tokenizerSkipped: String?
}
