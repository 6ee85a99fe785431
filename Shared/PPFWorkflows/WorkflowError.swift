// MARK: - WorkflowError

/// A workflow that cannot go on for a reason its caller must fix (a missing
/// stored version, settings that do not fit together), as one sentence that
/// says what to do. `ppf` prints it as its error line and exits 1.
public struct WorkflowError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong and what to do about it.
    public let description: String

    /// An error that reads `description`.
    public init(_ description: String) { self.description = description }
}
