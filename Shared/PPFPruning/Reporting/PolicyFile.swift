import Foundation
import PPFContracts

// MARK: - PolicyFile

/// The hand-editable JSON form of a policy (`ppf prune --save-policy p.json`,
/// read back by `--policy file:p.json`); documented in docs/pruning.md.
///
/// ```json
/// {
///   "format" : "ppf-policy",
///   "version" : 1,
///   "blockCount" : 30,
///   "source" : "owl",
///   "targetRatio" : 0.3,
///   "layers" : [
///     { "layer" : 0, "attention" : 0.25, "mlp" : 0.3 },
///     { "layer" : 1, "attention" : 0, "mlp" : 0, "dropped" : true }
///   ]
/// }
/// ```
///
/// `source` and `targetRatio` are informational; `dropped` may be omitted
/// (false). Ratios may be any value in [0, 1]: the planner maps them to the
/// nearest layout the model allows.
public struct PolicyFile: Codable, Sendable, Equatable {
    /// The only format name this reader accepts.
    public static let formatName = "ppf-policy"
    /// The current version.
    public static let currentVersion = 1

    /// One block's entry.
    public struct Layer: Codable, Sendable, Equatable {
        /// The block index, 0-based; entries must be in order.
        public var layer: Int
        /// Fraction of the block's attention parameters to remove.
        public var attention: Double
        /// Fraction of the block's MLP channels to remove.
        public var mlp: Double
        /// The block is removed whole.
        public var dropped: Bool

        /// Creates an entry.
        public init(layer: Int, attention: Double, mlp: Double, dropped: Bool = false) {
            self.layer = layer
            self.attention = attention
            self.mlp = mlp
            self.dropped = dropped
        }

        private enum CodingKeys: String, CodingKey { case layer, attention, mlp, dropped }

        /// Decodes an entry; `dropped` defaults to false.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            layer = try container.decode(Int.self, forKey: .layer)
            attention = try container.decode(Double.self, forKey: .attention)
            mlp = try container.decode(Double.self, forKey: .mlp)
            dropped = try container.decodeIfPresent(Bool.self, forKey: .dropped) ?? false
        }

        /// Encodes an entry, writing `dropped` only when true to keep files short.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(layer, forKey: .layer)
            try container.encode(attention, forKey: .attention)
            try container.encode(mlp, forKey: .mlp)
            if dropped { try container.encode(true, forKey: .dropped) }
        }
    }

    /// Always `ppf-policy`.
    public var format: String
    /// Format version.
    public var version: Int
    /// Blocks of the model the policy is for.
    public var blockCount: Int
    /// Where the policy came from (`uniform`, `owl`, `agent`, `hand`, …).
    public var source: String?
    /// The target ratio it was made for, if any.
    public var targetRatio: Double?
    /// One entry per block.
    public var layers: [Layer]

    /// A file holding `policy`.
    public init(policy: PruningPolicy, source: String? = nil, targetRatio: Double? = nil) {
        format = Self.formatName
        version = Self.currentVersion
        blockCount = policy.layers.count
        self.source = source
        self.targetRatio = targetRatio
        layers = policy.layers.enumerated().map {
            Layer(layer: $0.offset, attention: $0.element.attentionRatio, mlp: $0.element.mlpRatio, dropped: $0.element.dropped)
        }
    }

    /// The policy, after checking the file against a model with `blockCount` blocks.
    ///
    /// - Throws: `invalidPolicyFile` (format, version, entries out of order or
    ///   not matching `blockCount`), `policyShapeMismatch` (another model's
    ///   block count), `invalidRatio` (a ratio outside [0, 1]).
    public func policy(forBlockCount modelBlocks: Int) throws(PruningError) -> PruningPolicy {
        guard format == Self.formatName else {
            throw PruningError(.invalidPolicyFile, "the file's format is '\(format)', not '\(Self.formatName)'")
        }
        guard version == Self.currentVersion else {
            throw PruningError(.invalidPolicyFile, "policy file version \(version) is not supported (this build reads version \(Self.currentVersion))")
        }
        guard layers.count == blockCount, layers.enumerated().allSatisfy({ $0.offset == $0.element.layer }) else {
            throw PruningError(.invalidPolicyFile,
                               "the file declares \(blockCount) blocks and must list layers 0 ..< \(blockCount) in order; it lists \(layers.map(\.layer))")
        }
        guard blockCount == modelBlocks else {
            throw PruningError(.policyShapeMismatch,
                               "the policy file is for \(blockCount) blocks but the model has \(modelBlocks)")
        }
        for entry in layers {
            for (name, value) in [("attention", entry.attention), ("mlp", entry.mlp)] where !(value.isFinite && (0...1).contains(value)) {
                throw PruningError(.invalidRatio, "layer \(entry.layer): \(name) ratio \(value) is outside [0, 1]")
            }
        }
        if let targetRatio { try PlanBuilder.validateTarget(targetRatio) }
        return PruningPolicy(layers: layers.map { LayerPolicy(attentionRatio: $0.attention, mlpRatio: $0.mlp, dropped: $0.dropped) })
    }

    // MARK: - Reading and writing

    /// Pretty-printed JSON with sorted keys (stable diffs of hand-edited files).
    public func encoded() throws(PruningError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(self)
        } catch {
            throw PruningError(.invalidPolicyFile, "cannot encode the policy: \(error)")
        }
    }

    /// Parses a policy file's bytes.
    public static func decode(_ data: Data) throws(PruningError) -> PolicyFile {
        do {
            return try JSONDecoder().decode(PolicyFile.self, from: data)
        } catch {
            throw PruningError(.invalidPolicyFile, "not a valid policy file: \(Self.describe(error))")
        }
    }

    /// Reads the file at `url`.
    public static func read(from url: URL) throws(PruningError) -> PolicyFile {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw PruningError(.io, "cannot read the policy file \(url.path): \(error.localizedDescription)")
        }
        return try decode(data)
    }

    /// Writes the file atomically to `url` (no partial file on failure).
    public func write(to url: URL) throws(PruningError) {
        let data = try encoded()
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw PruningError(.io, "cannot write the policy file \(url.path): \(error.localizedDescription)")
        }
    }

    /// A one-line reason for a decoding failure, naming the field.
    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing '\(key.stringValue)' at \(path(context))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at \(path(context)): \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context):
            return "malformed JSON at \(path(context)): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    private static func path(_ context: DecodingError.Context) -> String {
        let components = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return components.isEmpty ? "the top level" : components
    }
}
