import Foundation
import PPFModel
import PPFPruning
import PPFTensor

// MARK: - FuzzTargets

/// The file readers that take bytes from outside, each as one function of
/// the bytes: it returns when the reader accepted them or refused them with
/// a named error (``ModelError``, ``ExportError``). Anything else — a trap,
/// an out-of-bounds read, an allocation the size of a crafted count — ends
/// the process, which is what the fuzzer (`ppf-fuzz`, `make fuzz`) and the
/// replay test look for.
///
/// Each target goes as far as a user's command would: a GGUF is loaded as a
/// checkpoint (header, configuration, tokenizer, every tensor dequantized),
/// then tokenizes a text and runs a two-token forward pass, as `ppf eval`
/// would; a safetensors file is parsed and every tensor read, as the export
/// checks do.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `LlamaCheckpoint.load` and a first use of the model.
    case gguf
    /// `SafetensorsFile(bytes:)` and reading every tensor.
    case safetensors

    /// Runs the target on `bytes`; returns whether the reader accepted them.
    @discardableResult
    public func run(_ bytes: Data) -> Bool {
        switch self {
        case .gguf: Self.gguf(bytes)
        case .safetensors: Self.safetensors(bytes)
        }
    }

    /// A per-process scratch file: the GGUF reader maps files, as users' checkpoints are.
    private static let scratch = FileManager.default.temporaryDirectory
        .appendingPathComponent("ppf-fuzz-\(ProcessInfo.processInfo.processIdentifier).gguf")

    private static func gguf(_ bytes: Data) -> Bool {
        do {
            try bytes.write(to: scratch)
        } catch {
            fatalError("the fuzzer cannot write its scratch file \(scratch.path): \(error)")
        }
        defer { try? FileManager.default.removeItem(at: scratch) }
        do {
            _ = GGUFInspection.report(for: try GGUFFile.open(scratch))
            let checkpoint = try LlamaCheckpoint.load(contentsOf: scratch)
            let tokens = checkpoint.tokens(of: "the model prunes heads")
            let model = checkpoint.model
            let context = Array((tokens + [0, 0]).prefix(2))
            let session = try LlamaSession(model: model, capacity: 2, maximumChunk: 2)
            _ = try session.append(context)
            return true
        } catch is ModelError {
            return false
        } catch {
            fatalError("the GGUF reader threw an unnamed error: \(error)")
        }
    }

    private static func safetensors(_ bytes: Data) -> Bool {
        do {
            let file = try SafetensorsFile(bytes: bytes, name: "fuzz.safetensors")
            for name in file.tensors.keys.sorted() { _ = try file.values(of: name) }
            return true
        } catch {
            return false  // typed: ExportError is the only error it throws
        }
    }
}
