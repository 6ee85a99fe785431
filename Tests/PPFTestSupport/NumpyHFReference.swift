import Foundation

/// The independent reader of PPF's HF exports:
/// `infra/reference/export/numpy_hf_llama.py` (safetensors parsed from its
/// specification, HF transformers' LLaMA forward pass in numpy, float64),
/// run on a folder PPF wrote. numpy comes from `.deps/python` (`make setup`).
public enum NumpyHFReference {
    /// What the reader computed from the folder.
    public struct Result: Sendable {
        /// Logits, positions × vocabulary, row-major.
        public var logits: [Float]
        /// Per layer: query heads, KV heads, MLP width, as read from the tensors' shapes.
        public var layers: [(heads: Int, kvHeads: Int, intermediate: Int)]
        /// The reader's JSON summary line, for messages.
        public var summary: String
    }

    /// Runs the reader on `folder` for `tokens`, in a scratch directory of its own.
    /// - Parameter root: the repository root (scripts and `.deps/python` live there).
    /// - Throws: ``TestSetupError`` naming the reader's output when it fails.
    public static func logits(of folder: URL, tokens: [Int], root: URL) throws -> Result {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-numpy-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let tokensURL = scratch.appendingPathComponent("tokens.json"), logitsURL = scratch.appendingPathComponent("logits.f32")
        try JSONSerialization.data(withJSONObject: tokens).write(to: tokensURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", root.appendingPathComponent("infra/reference/export/numpy_hf_llama.py").path, folder.path,
                             "--tokens", tokensURL.path, "--logits", logitsURL.path]
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = root.appendingPathComponent(".deps/python").path
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestSetupError("numpy_hf_llama.py exited \(process.terminationStatus) (`make setup` installs numpy into .deps/python): \(printed.suffix(2000))")
        }
        let logits = try Data(contentsOf: logitsURL).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let line = printed.split(separator: "\n").last.map(String.init) ?? ""
        let summary = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
        let layers = (summary["per_layer"] as? [[String: Int]] ?? []).map {
            (heads: $0["heads"] ?? -1, kvHeads: $0["kv_heads"] ?? -1, intermediate: $0["intermediate"] ?? -1)
        }
        return Result(logits: logits, layers: layers, summary: line)
    }
}
