import Foundation

// MARK: - PolicySource

/// Where `ppf prune --policy` gets its policy: a baseline by name or a policy file.
public enum PolicySource: Sendable, Hashable {
    /// A baseline made for the target ratio.
    case baseline(BaselinePolicy)
    /// A `PolicyFile` (`file:<path>`).
    case file(URL)
}
