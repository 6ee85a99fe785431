import Foundation
import PPFPruning

// MARK: - The `--policy` argument

extension PolicySource {
    /// Parses the text of `--policy` (`ppf prune`, `ppf predictor`): `uniform|llm-pruner|owl|flap|shortgpt|file:<policy.json>`.
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
