import ArgumentParser
import Foundation
import Logging
import PPFBus
import PPFContracts
import PPFRuntime
import PPFWorkflows

// MARK: - ppf infer

/// `ppf infer …`: ask the running model-host of a deployment.
struct Infer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask model-host: the perplexity of a text, or a greedy continuation of a prompt.",
        discussion: """
            The request goes to ppf.inference-requests; the deployment's model-host answers on \
            ppf.inference-replies with the model version that answered ("dense" or the plan id of \
            the pruned model it serves). Needs only the broker.
            """,
        subcommands: [InferPerplexity.self, InferGenerate.self])
}

/// Options every `ppf infer` command takes.
struct InferOptions: ParsableArguments {
    @Option(help: "The deployment to ask (default: PPF_MODEL_ID, smollm2-135m).")
    var model: String?

    @Option(help: "Seconds to wait for the reply.")
    var timeout: Double = 120

    @Flag(help: "Print the reply envelope as one JSON line.")
    var json = false

    func validate() throws {
        guard timeout.isFinite, timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    /// Sends `task`, waits for the reply and prints it.
    /// - Throws: ``UserFacingError`` for a request outside the limits, no reply in time, or an error reply.
    func ask(_ task: InferenceTask) async throws {
        let settings = CommandLineSettings.current
        let deployment = model ?? settings.modelId
        let request: InferenceRequest
        do {
            request = try InferenceRequest(requestId: UUID(), modelId: deployment, task: task)
        } catch {
            throw UserFacingError("the request is outside the limits: \(error)")
        }
        let (reply, latency) = try await InferenceClient(settings: settings).ask(request, timeout: .seconds(timeout))
        if json {
            print(String(decoding: try reply.encoded(), as: UTF8.self))
        } else {
            print(Self.describe(reply.payload, latency: latency))
        }
        if let error = reply.payload.error { throw UserFacingError("model-host could not answer: \(error)") }
    }

    /// The answer, then the version that answered and the latency.
    static func describe(_ reply: InferenceReply, latency: Duration) -> String {
        var lines: [String] = []
        switch reply.result {
        case .perplexity(let nll, let perplexity, let tokensCounted):
            lines.append(String(format: "perplexity  %.4f  (NLL %.6f over %d predicted tokens)", perplexity, nll, tokensCounted))
        case .generation(let text, let promptTokens, let generatedTokens):
            lines.append(text)
            lines.append("tokens      \(promptTokens) in, \(generatedTokens) generated")
        case nil:
            lines.append("error       \(reply.error ?? "no result")")
        }
        lines.append("model       \(reply.modelId), version \(reply.modelVersion) (instance \(reply.instanceId))")
        let seconds = Double(latency.components.seconds) + Double(latency.components.attoseconds) / 1e18
        lines.append(String(format: "latency     %.3f s round trip, %.3f s on the host", seconds, reply.seconds))
        return lines.joined(separator: "\n")
    }
}

/// `ppf infer perplexity --text "…"`.
struct InferPerplexity: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity", abstract: "The perplexity of a text under the model the deployment serves.")

    @Option(help: "The text (at most \(InferenceRequest.maximumTextBytes) UTF-8 bytes).")
    var text: String

    @OptionGroup var options: InferOptions

    func run() async throws { try await options.ask(.perplexity(text: text)) }
}

/// `ppf infer generate --prompt "…" [--max-tokens N]`.
struct InferGenerate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Continue a prompt greedily with the model the deployment serves.")

    @Option(help: "The prompt (at most \(InferenceRequest.maximumPromptBytes) UTF-8 bytes).")
    var prompt: String

    @Option(help: "Most tokens to generate (1...\(InferenceRequest.maximumNewTokens)).")
    var maxTokens: Int = 32

    @OptionGroup var options: InferOptions

    func run() async throws { try await options.ask(.generate(prompt: prompt, maxTokens: maxTokens)) }
}
