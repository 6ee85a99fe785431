import Dispatch
import Foundation
import PPFContracts
import PPFModel

// MARK: - Calibration

/// Runs a model over calibration text and returns `CalibrationStatistics`
/// (estimate, the first step of estimate → plan → apply → export).
///
/// Every function blocks its thread on BLAS; call from a dedicated thread.
public enum Calibration {
    /// Collects statistics over `spec.windows` consecutive windows of `tokens`.
    ///
    /// - Parameters:
    ///   - modelChecksum, corpusChecksum: recorded in the result (and its cache key).
    /// - Throws: `invalidCalibration` when `tokens` holds fewer than
    ///   `spec.tokenCount` tokens or the window exceeds the context length.
    public static func collect(model: LlamaModel, tokens: [Int], spec: CalibrationSpec,
                               modelChecksum: String, corpusChecksum: String) throws(PruningError) -> CalibrationStatistics {
        try spec.validate()
        guard tokens.count >= spec.tokenCount else {
            throw PruningError(.invalidCalibration,
                               "calibration \(spec.label) needs \(spec.tokenCount) tokens but the text has \(tokens.count); use fewer or shorter windows")
        }
        guard spec.windowLength <= model.configuration.contextLength else {
            throw PruningError(.invalidCalibration,
                               "calibration window \(spec.windowLength) exceeds the context length \(model.configuration.contextLength)")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let collector = CalibrationCollector(configuration: model.configuration)
        do {
            let cache = try KVCache(configuration: model.configuration, capacity: spec.windowLength)
            let workspace = try LlamaWorkspace(configuration: model.configuration, maximumTokens: spec.windowLength)
            for window in 0..<spec.windows {
                cache.reset()
                let slice = Array(tokens[window * spec.windowLength ..< (window + 1) * spec.windowLength])
                try model.forward(slice, cache: cache, workspace: workspace, observer: collector)
            }
        } catch {
            throw PruningError(wrapping: error)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return CalibrationStatistics(modelChecksum: modelChecksum, corpusChecksum: corpusChecksum, spec: spec,
                                     tokens: spec.tokenCount, seconds: seconds, layers: collector.layerStatistics())
    }

    /// The statistics of `checkpoint` on `spec`: from `cache` when present,
    /// otherwise computed (and stored in `cache`).
    ///
    /// The key is (SHA-256 of the checkpoint file, SHA-256 of the split's
    /// text, spec); see `CalibrationCache`.
    public static func statistics(checkpoint: LlamaCheckpoint, corpus: Corpus, spec: CalibrationSpec = CalibrationSpec(),
                                  cache: CalibrationCache? = nil) throws(PruningError) -> CalibrationStatistics {
        try spec.validate()
        let modelChecksum = try SHA256.hex(ofFileAt: checkpoint.url)
        let text: String
        do {
            text = try corpus.text(of: spec.split)
        } catch {
            throw PruningError(wrapping: error)
        }
        let corpusChecksum = SHA256.hex(of: Array(text.utf8))
        let key = CalibrationCache.Key(modelChecksum: modelChecksum, corpusChecksum: corpusChecksum, spec: spec)
        if let cached = cache?.load(key) { return cached }
        let tokens = checkpoint.tokens(of: text, limit: spec.tokenCount)
        let statistics = try collect(model: checkpoint.model, tokens: tokens, spec: spec,
                                     modelChecksum: modelChecksum, corpusChecksum: corpusChecksum)
        try cache?.store(statistics)
        return statistics
    }
}
