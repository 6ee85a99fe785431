// MARK: - TensorError

/// The one error type of PPFTensor: a shape or argument a caller got wrong.
///
/// `Code` is growable (static lets), so new failure kinds do not break
/// `switch`es in other modules. The source location is captured by default
/// arguments so a message can be traced back to the call that produced it.
public struct TensorError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, as a stable, comparable value.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable name of the code, e.g. `shapeMismatch`.
        public let name: String
        /// Creates a code; modules may add their own codes in extensions.
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Two operands (or a buffer and its declared shape) do not agree.
        public static let shapeMismatch = Code("shapeMismatch")
        /// An argument is outside the range the operation accepts.
        public static let invalidArgument = Code("invalidArgument")
    }

    /// The kind of failure.
    public let code: Code
    /// What happened and what to do about it, for a person.
    public let message: String
    /// The file that raised the error.
    public let file: String
    /// The line that raised the error.
    public let line: Int

    /// Creates an error, capturing the caller's location.
    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    /// Shape and argument errors are programming or input errors; retrying cannot help.
    public var isRetriable: Bool { false }

    public var description: String { "TensorError.\(code): \(message) [\(file):\(line)]" }
}
