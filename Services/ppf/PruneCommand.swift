import ArgumentParser
import Foundation
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime

/// `ppf prune`: one-shot offline pruning — policy → plan → smaller model → file.
struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prune a model with a policy and an importance metric, print what was kept, and export it.",
        discussion: """
            Policies: uniform, llm-pruner, owl, flap, shortgpt (hand-made baselines; docs/pruning.md \
            cites each), or file:<policy.json> (the format --save-policy writes; edit it by hand). \
            Metrics: magnitude (data-free), wanda-sp, flap (with bias compensation). Calibration \
            statistics are cached in .deps/cache/calibration, so a second run is instant.
            Export: --out x.gguf writes a GGUF llama.cpp loads (architecture `deci` when blocks differ); \
            --out <folder> --format hf writes safetensors + config.json (uniform shapes only).
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: "Target ratio: fraction of prunable parameters to remove, 0 ≤ r < 1 (not needed for file: policies).")
    var ratio: Double?

    @Option(help: "uniform | llm-pruner | owl | flap | shortgpt | file:<policy.json>")
    var policy: String = "uniform"

    @Option(help: "magnitude | wanda-sp | flap")
    var metric: MetricKind = .wandaSP

    @Option(help: "Where to write the pruned model (a .gguf file, or a folder with --format hf).")
    var out: String?

    @Option(help: "gguf or hf (safetensors + config.json).")
    var format: ExportFormat = .gguf

    @Option(help: "Weight precision of the export: f16, f32 or bf16.")
    var precision: String = "f16"

    @Option(help: "Write the policy as editable JSON (read back with --policy file:<path>).")
    var savePolicy: String?

    @Option(help: "Calibration windows × 512 tokens from the calibration split.")
    var calibrationWindows: Int = 32

    enum ExportFormat: String, ExpressibleByArgument { case gguf, hf }

    func validate() throws {
        if let ratio, !(ratio.isFinite && ratio >= 0 && ratio < 1) {
            throw ValidationError("--ratio must be in [0, 1), got \(ratio)")
        }
        guard ["f16", "f32", "bf16"].contains(precision) else { throw ValidationError("--precision must be f16, f32 or bf16") }
        guard calibrationWindows >= 1 else { throw ValidationError("--calibration-windows must be at least 1") }
    }

    func run() throws {
        let source = try PolicySource(parsing: policy)
        let checkpoint = try model.load()
        let settings = CommandLineSettings.current
        let session = try PruningSession.prepare(
            checkpoint: checkpoint, corpus: Corpus(directory: URL(fileURLWithPath: settings.corpusDirectory)),
            metric: metric, calibration: CalibrationSpec(windows: calibrationWindows),
            cache: CalibrationCache(directory: URL(fileURLWithPath: settings.calibrationCacheDirectory)),
            calibrate: source.needsCalibration)
        let chosen = try session.policy(source, targetRatio: ratio)
        let plan = try session.plan(chosen, targetRatio: ratio)
        print(PlanTable.markdown(plan))
        if let savePolicy {
            try PolicyFile(policy: chosen, source: policy, targetRatio: ratio).write(to: URL(fileURLWithPath: savePolicy))
            print("policy written to \(savePolicy)")
        }
        guard let out else {
            print("(no --out: nothing exported)")
            return
        }
        let start = Date()
        let pruned = try session.apply(plan)
        let metadata = try GGUFFile.open(checkpoint.url).metadata
        // A plan is deterministic data, so its content hash identifies it.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let planID = String(SHA256.hex(of: Array(try encoder.encode(plan))).prefix(16))
        let provenance = ExportProvenance(planID: planID, achievedRatio: plan.achievedRatio, metric: plan.metric,
                                          sourceSHA256: session.identity.checksum)
        let exportPrecision = ExportPrecision(rawValue: precision) ?? .f16
        do {
            switch format {
            case .gguf:
                _ = try GGUFExporter.export(pruned.weights, sourceMetadata: metadata, to: URL(fileURLWithPath: out),
                                            options: GGUFExportOptions(precision: exportPrecision, provenance: provenance))
            case .hf:
                _ = try HFExporter.export(pruned.weights, sourceMetadata: metadata, to: URL(fileURLWithPath: out),
                                          options: HFExportOptions(precision: exportPrecision, provenance: provenance))
            }
        } catch {
            throw UserFacingError("export to \(out) failed, nothing was written: \(error)")
        }
        print(String(format: "wrote %@ (%@, %@) in %.1f s; achieved ratio %.4f", out, format.rawValue, precision,
                     Date().timeIntervalSince(start), plan.achievedRatio))
    }
}

extension MetricKind: ExpressibleByArgument {}

extension PolicySource {
    /// OWL and ShortGPT read calibration statistics even with a data-free metric.
    var needsCalibration: Bool {
        if case .baseline(let baseline) = self { return baseline == .owl || baseline == .shortGPT }
        return false
    }
}
