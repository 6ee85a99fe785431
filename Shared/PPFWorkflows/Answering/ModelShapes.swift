import Foundation
import PPFAgent
import PPFModel
import PPFRuntime

// MARK: - ModelShapes

/// Where the agent learns a model's shapes, which its budget (and so every
/// ratio) is computed from: the configured base model's GGUF header
/// (`PPF_MODEL_DIR`/`PPF_MODEL_FILE` for `PPF_MODEL_ID`). Only the header is
/// read; weights stay on disk. Other models are served only if an agent
/// version of theirs is stored (its artifact carries the budget).
public struct ModelShapes: Sendable {
    public let settings: Settings

    /// Creates the value from its parts.
    public init(settings: Settings) {
        self.settings = settings
    }

    /// The configured model's file.
    public var checkpointURL: URL {
        URL(fileURLWithPath: settings.modelDirectory).appendingPathComponent(settings.modelFile)
    }

    /// The configuration of `modelId` when it is the configured model, else nil.
    /// - Throws: `ModelError` when the configured file is missing or not a LLaMA GGUF.
    public func configuration(modelId: String) throws -> LlamaConfiguration? {
        guard modelId == settings.modelId else { return nil }
        let url = checkpointURL
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ModelError(.io, "the configured model '\(modelId)' has no file at \(url.path); set PPF_MODEL_DIR / PPF_MODEL_FILE")
        }
        let file = try GGUFFile.open(url)
        return try LlamaConfiguration(metadata: file.metadata, tensors: file.tensors)
    }
}
