import Foundation

// MARK: - PolicySource

/// Where `ppf prune --policy` gets its policy: a baseline by name or a policy file.
public enum PolicySource: Sendable, Hashable {
    /// A baseline made for the target ratio.
    case baseline(BaselinePolicy)
    /// A `PolicyFile` (`file:<path>`).
    case file(URL)

    /// Parses `uniform|llm-pruner|owl|flap|shortgpt|file:<policy.json>`.
    public init(parsing text: String) throws(PruningError) {
        if text.hasPrefix("file:") {
            let path = String(text.dropFirst("file:".count))
            guard !path.isEmpty else { throw PruningError(.unknownName, "file: needs a path, e.g. file:policy.json") }
            self = .file(URL(fileURLWithPath: path))
        } else {
            self = .baseline(try BaselinePolicy(named: text))
        }
    }
}
