// Temporary stand-in for `ModelError`, which branch `model-gguf` owns in
// Shared/PPFModel/ModelError.swift. Deleted before that branch is merged.

/// The one error type of `PPFModel` (temporary copy; see the file header).
public struct ModelError: Error, CustomStringConvertible, Sendable {
    /// A stable, machine-readable error kind.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name.
        public let name: String
        /// Creates a code.
        public init(_ name: String) { self.name = name }
        public var description: String { name }
        /// A tensor the caller asked for is not in the file.
        public static let missingTensor = Code("missingTensor")
        /// A tensor's dimensions disagree with what the caller or the format requires.
        public static let shapeMismatch = Code("shapeMismatch")
        /// A tensor type this code cannot convert.
        public static let unsupportedType = Code("unsupportedType")
        /// The operating system refused a file operation.
        public static let io = Code("io")
    }
    /// What kind of failure this is.
    public let code: Code
    /// A sentence a person can act on.
    public let message: String
    /// Source file that threw.
    public let file: String
    /// Source line that threw.
    public let line: UInt
    /// Creates an error; the source location is captured automatically.
    public init(_ code: Code, _ message: String, file: String = #fileID, line: UInt = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }
    /// Whether trying again unchanged could succeed.
    public var isRetriable: Bool { code == .io }
    public var description: String { "ModelError.\(code): \(message) [\(file):\(line)]" }
}
