import Foundation
import PPFModel
import PPFRuntime
import PPFTestSupport
import Testing

/// Issue 16 §5, at the command line: `ppf eval` on a GGUF whose
/// `llama.context_length` is 2⁴⁰ or 2⁶² (it sizes the RoPE table: a
/// near-endless allocation, or a trap on overflow) exits at once with the
/// named error. The crafted file is a one-block random model carrying the
/// real model's tokenizer, and the same file with an honest context length
/// evaluates, so the refusal is the crafted value's and nothing else's.
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(3)))) struct CraftedCheckpointCLITests {
    static var realModelURL: URL { URL(fileURLWithPath: repositoryRoot() + "/.deps/models/SmolLM2-135M-Instruct.Q4_1.gguf") }
    static var realModelIsPresent: Bool { FileManager.default.fileExists(atPath: realModelURL.path) }

    /// Writes a one-block random model with the real tokenizer and `contextLength` to `url`.
    static func writeTinyModel(to url: URL, contextLength: GGUFValue) throws {
        let real = try GGUFFile.open(realModelURL)
        let tokenizer = GGUFMetadata(real.metadata.entries.filter { $0.key.hasPrefix("tokenizer.") })
        let vocabulary = try LlamaConfiguration(metadata: real.metadata, tensors: real.tensors).vocabularySize
        let configuration = try LlamaConfiguration(blockCount: 1, embeddingLength: 32, headCounts: [4], keyValueHeadCounts: [2],
                                                   feedForwardLengths: [48], rmsNormEpsilon: 1e-5, ropeFrequencyBase: 10_000,
                                                   contextLength: 64, vocabularySize: vocabulary)
        var writer = try LlamaWeights.random(configuration: configuration, seed: 16).makeGGUFWriter(baseMetadata: tokenizer)
        writer.metadata["llama.context_length"] = contextLength
        try writer.write(to: url)
    }

    static func evaluate(_ model: URL, text: URL) async throws -> (exit: ServiceProcess.Termination, output: String, seconds: Double) {
        let started = ContinuousClock.now
        let eval = try ServiceProcess.start("ppf", ["eval", "--model", model.path, "--text", text.path, "--window", "16"])
        let exit = try await eval.waitForExit(within: TestDeadlines.scaled(.seconds(60)))
        let elapsed = ContinuousClock.now - started
        return (exit, eval.output, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }

    @Test(.enabled(if: realModelIsPresent, "the real model is absent from .deps/models; run `make setup`"),
          arguments: [UInt64(1) << 40, UInt64(1) << 62])
    func ppfEvalRefusesACraftedContextLengthWithANamedError(contextLength: UInt64) async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-crafted-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let text = scratch.appendingPathComponent("text.txt")
        try Data("The quick brown fox jumps over the lazy dog, and the dog sleeps on in the afternoon sun.".utf8).write(to: text)

        let honest = scratch.appendingPathComponent("honest.gguf"), crafted = scratch.appendingPathComponent("crafted.gguf")
        try Self.writeTinyModel(to: honest, contextLength: .uint32(64))
        try Self.writeTinyModel(to: crafted, contextLength: .uint64(contextLength))

        let control = try await Self.evaluate(honest, text: text)
        #expect(control.exit == .exited(0), "the same file with context_length 64 must evaluate: \(control.output.suffix(2000))")

        let refused = try await Self.evaluate(crafted, text: text)
        guard case .exited(let code) = refused.exit else {
            Issue.record("ppf eval did not exit on its own (\(refused.exit)): \(refused.output.suffix(2000))")
            return
        }
        #expect(code != 0)
        #expect(refused.output.contains("llama.context_length \(contextLength) exceeds PPF's limit of \(LlamaConfiguration.Limits.contextLength)"),
                "the error names the key, the value and the limit: \(refused.output.suffix(2000))")
        // Generous for a loaded runner: unbounded, the RoPE table alone would take minutes or trap.
        #expect(refused.seconds < 20, "refused after \(refused.seconds) s")
        print("crafted context_length \(contextLength): exit \(code) after \(String(format: "%.2f", refused.seconds)) s; control exit 0 after \(String(format: "%.2f", control.seconds)) s")
    }
}
