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

// MARK: - InferenceClient

/// Sends one ``InferenceRequest`` and waits for its ``InferenceReply``.
///
/// The reply consumer joins a group of its own that reads the reply topic
/// from its start, and is subscribed before the request is sent, so a fast
/// reply is never missed; replies are matched by key (the request id).
struct InferenceClient: Sendable {
    let settings: Settings

    /// The reply to `request` and the round-trip time (from sending to receiving).
    /// - Throws: ``UserFacingError`` when the broker is unreachable or no reply comes within `timeout`.
    func ask(_ request: InferenceRequest, timeout: Duration) async throws -> (Envelope<InferenceReply>, Duration) {
        var kafka = KafkaConfiguration(bootstrapServers: settings.kafkaBrokers.split(separator: ",").map(String.init))
        kafka.autoOffsetReset = .earliest
        kafka.sessionTimeout = .milliseconds(settings.kafkaSessionTimeoutMilliseconds)
        kafka.logLevel = .error
        kafka.clientId = "ppf-infer"
        let logger = Logger(label: "ppf.infer")
        do {
            let topics = Topic.all.filter { [Topic.inferenceRequests, Topic.inferenceReplies].contains($0.name) }
            _ = try await KafkaAdmin.make(configuration: kafka, logger: logger)
                .createTopics(topics.map { TopicSpec(name: $0.name, partitions: $0.partitions) })
        } catch {
            throw UserFacingError("the broker at \(settings.kafkaBrokers) is not usable (\(error)); is the stack up? (`make up`)")
        }
        let consumer = try KafkaConsumer.make(configuration: kafka, groupId: "ppf-infer-\(UUID().uuidString.prefix(8))",
                                              topics: [Topic.inferenceReplies], logger: logger)
        let producer = try KafkaProducer.make(configuration: kafka, logger: logger)
        // Send once the reply group is joined (a few seconds), so the latency printed is the round trip itself.
        let joinDeadline = ContinuousClock.now + timeout
        while consumer.assignedPartitions.isEmpty, ContinuousClock.now < joinDeadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let key = request.requestId.uuidString.lowercased()
        let envelope = Envelope(correlationId: request.requestId, producer: "ppf/\(settings.instanceId)", payload: request,
                                messageId: request.requestId)
        let sent = ContinuousClock.now
        do {
            try await producer.send(envelope, to: Topic.inferenceRequests, key: key)
        } catch {
            await consumer.close()
            await producer.shutdown()
            throw UserFacingError("the request could not be sent: \(error)")
        }
        let reply = await withTaskGroup(of: Envelope<InferenceReply>?.self) { group in
            group.addTask {
                do {
                    for try await message in consumer.messages where message.keyString == key {
                        if let reply = try? Envelope<InferenceReply>.decode(message.value) { return reply }
                    }
                } catch {}
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        let latency = ContinuousClock.now - sent
        await consumer.close()
        await producer.shutdown()
        guard let reply else {
            throw UserFacingError("no reply to request \(key) within \(timeout); is a model-host serving '\(request.modelId)' running? (`ppf status`)")
        }
        return (reply, latency)
    }
}
