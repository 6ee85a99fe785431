import Foundation

// MARK: - InferenceRequest

/// Asks model-host to run the model it serves for a deployment.
/// Topic: ``Topic/inferenceRequests``, key: ``requestId``; answered by one
/// ``InferenceReply`` with the same request id and correlation id on
/// ``Topic/inferenceReplies``.
///
/// Limits are checked here, before any model runs, so an oversized request
/// is dead-lettered with its reason rather than tying up a host.
public struct InferenceRequest: MessagePayload, Equatable {
    public static let messageType = "inference-request"
    public static let schemaVersion = 1

    /// Most UTF-8 bytes of text a perplexity request may carry (64 KiB, about 16k tokens).
    public static let maximumTextBytes = 65_536
    /// Most UTF-8 bytes of a generation prompt (16 KiB).
    public static let maximumPromptBytes = 16_384
    /// Most tokens one generation may produce.
    public static let maximumNewTokens = 512

    /// Id the reply carries.
    public var requestId: UUID
    /// The deployment that should answer, e.g. `"smollm2-135m"`.
    public var modelId: String
    /// What to compute.
    public var task: InferenceTask

    /// Creates a request after checking its limits.
    /// - Throws: ``EnvelopeRejection/invalidPayload(_:)``; see ``validate()``.
    public init(requestId: UUID, modelId: String, task: InferenceTask) throws(EnvelopeRejection) {
        self.requestId = requestId
        self.modelId = modelId
        self.task = task
        try validate()
    }

    /// Checks the model is named and the task's text and token count are within the limits.
    public func validate() throws(EnvelopeRejection) {
        guard !modelId.isEmpty else { throw .invalidPayload("model id is empty") }
        switch task {
        case .perplexity(let text):
            guard !text.isEmpty, text.utf8.count <= Self.maximumTextBytes else {
                throw .invalidPayload("perplexity text must have 1...\(Self.maximumTextBytes) UTF-8 bytes, got \(text.utf8.count)")
            }
        case .generate(let prompt, let maxTokens):
            guard !prompt.isEmpty, prompt.utf8.count <= Self.maximumPromptBytes else {
                throw .invalidPayload("the prompt must have 1...\(Self.maximumPromptBytes) UTF-8 bytes, got \(prompt.utf8.count)")
            }
            guard (1...Self.maximumNewTokens).contains(maxTokens) else {
                throw .invalidPayload("maxTokens must lie in 1...\(Self.maximumNewTokens), got \(maxTokens)")
            }
        }
    }
}

// MARK: - InferenceTask

/// What an ``InferenceRequest`` asks for. On the wire an object with a
/// `kind` field: `{"kind":"perplexity","text":…}` or
/// `{"kind":"generate","maxTokens":…,"prompt":…}`.
public enum InferenceTask: Sendable, Equatable, Codable {
    /// The perplexity of `text` (windows of at most 512 tokens, as `ppf eval` measures).
    case perplexity(text: String)
    /// Greedy continuation of `prompt` by up to `maxTokens` tokens (stops at end-of-sequence).
    case generate(prompt: String, maxTokens: Int)

    /// `perplexity` or `generate`, as written in `kind`.
    public var kind: String {
        switch self {
        case .perplexity: "perplexity"
        case .generate: "generate"
        }
    }

    enum CodingKeys: String, CodingKey { case kind, text, prompt, maxTokens }

    /// Reads the `kind` discriminator, then that kind's fields.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try container.decode(String.self, forKey: .kind)
        switch kind {
        case "perplexity":
            self = .perplexity(text: try container.decode(String.self, forKey: .text))
        case "generate":
            self = .generate(prompt: try container.decode(String.self, forKey: .prompt),
                             maxTokens: try container.decode(Int.self, forKey: .maxTokens))
        default:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: container,
                                                   debugDescription: "unknown task kind '\(kind)'; expected perplexity or generate")
        }
    }

    /// Writes `kind` and that kind's fields.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        switch self {
        case .perplexity(let text):
            try container.encode(text, forKey: .text)
        case .generate(let prompt, let maxTokens):
            try container.encode(prompt, forKey: .prompt)
            try container.encode(maxTokens, forKey: .maxTokens)
        }
    }
}

// MARK: - InferenceReply

/// The answer to an ``InferenceRequest``. Topic: ``Topic/inferenceReplies``,
/// key: ``requestId``; the envelope carries the request's correlation id.
///
/// A request the host understood but cannot answer (text shorter than two
/// tokens, a prompt that does not fit the context) gets a reply with
/// ``error`` set and no result, so the asker fails at once. Either way the
/// reply names the model version that was serving (``modelVersion``).
public struct InferenceReply: MessagePayload, Equatable {
    public static let messageType = "inference-reply"
    public static let schemaVersion = 1

    /// The request answered.
    public var requestId: UUID
    /// The deployment.
    public var modelId: String
    /// The model version that answered: ``ModelVersion/dense`` or a plan id.
    public var modelVersion: String
    /// The model-host instance that answered.
    public var instanceId: String
    /// The answer; `nil` with an error.
    public var result: InferenceResult?
    /// Why the request could not be answered, for a person.
    public var error: String?
    /// Seconds the host spent on the request (tokenizing and running the model).
    public var seconds: Double

    /// A successful reply.
    public init(requestId: UUID, modelId: String, modelVersion: String, instanceId: String,
                result: InferenceResult, seconds: Double) {
        self.requestId = requestId
        self.modelId = modelId
        self.modelVersion = modelVersion
        self.instanceId = instanceId
        self.result = result
        self.error = nil
        self.seconds = seconds
    }

    /// A reply saying why the request cannot be answered.
    public init(requestId: UUID, modelId: String, modelVersion: String, instanceId: String,
                error: String, seconds: Double) {
        self.requestId = requestId
        self.modelId = modelId
        self.modelVersion = modelVersion
        self.instanceId = instanceId
        self.result = nil
        self.error = error
        self.seconds = seconds
    }
}

// MARK: - InferenceResult

/// What a model computed. On the wire an object with a `kind` field, as ``InferenceTask``.
public enum InferenceResult: Sendable, Equatable, Codable {
    /// Mean negative log-likelihood per predicted token, its exponential, and how many tokens were predicted.
    case perplexity(nll: Double, perplexity: Double, tokensCounted: Int)
    /// The generated text, the prompt's token count and the number of generated tokens.
    case generation(text: String, promptTokens: Int, generatedTokens: Int)

    /// `perplexity` or `generation`, as written in `kind`.
    public var kind: String {
        switch self {
        case .perplexity: "perplexity"
        case .generation: "generation"
        }
    }

    enum CodingKeys: String, CodingKey { case kind, nll, perplexity, tokensCounted, text, promptTokens, generatedTokens }

    /// Reads the `kind` discriminator, then that kind's fields.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try container.decode(String.self, forKey: .kind)
        switch kind {
        case "perplexity":
            self = .perplexity(nll: try container.decode(Double.self, forKey: .nll),
                               perplexity: try container.decode(Double.self, forKey: .perplexity),
                               tokensCounted: try container.decode(Int.self, forKey: .tokensCounted))
        case "generation":
            self = .generation(text: try container.decode(String.self, forKey: .text),
                               promptTokens: try container.decode(Int.self, forKey: .promptTokens),
                               generatedTokens: try container.decode(Int.self, forKey: .generatedTokens))
        default:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: container,
                                                   debugDescription: "unknown result kind '\(kind)'; expected perplexity or generation")
        }
    }

    /// Writes `kind` and that kind's fields.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        switch self {
        case .perplexity(let nll, let perplexity, let tokensCounted):
            try container.encode(nll, forKey: .nll)
            try container.encode(perplexity, forKey: .perplexity)
            try container.encode(tokensCounted, forKey: .tokensCounted)
        case .generation(let text, let promptTokens, let generatedTokens):
            try container.encode(text, forKey: .text)
            try container.encode(promptTokens, forKey: .promptTokens)
            try container.encode(generatedTokens, forKey: .generatedTokens)
        }
    }
}

// MARK: - ModelVersion

/// How replies, status messages and tables name the model that served:
/// the dense base model, or the pruned model of one plan.
public enum ModelVersion {
    /// The base model, unpruned.
    public static let dense = "dense"

    /// The pruned model of plan `id`: the plan id in lowercase (equal to `plans.id::text`).
    public static func plan(_ id: UUID) -> String { id.uuidString.lowercased() }
}

// MARK: - Lowercase ids

extension InferenceRequest {
    /// Synthesized coding, except that ids are written in lowercase.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeCanonical(requestId, forKey: .requestId)
        try container.encode(modelId, forKey: .modelId)
        try container.encode(task, forKey: .task)
    }
}

extension InferenceReply {
    /// Synthesized coding, except that ids are written in lowercase.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeCanonical(requestId, forKey: .requestId)
        try container.encode(modelId, forKey: .modelId)
        try container.encode(modelVersion, forKey: .modelVersion)
        try container.encode(instanceId, forKey: .instanceId)
        try container.encodeIfPresent(result, forKey: .result)
        try container.encodeIfPresent(error, forKey: .error)
        try container.encode(seconds, forKey: .seconds)
    }
}
