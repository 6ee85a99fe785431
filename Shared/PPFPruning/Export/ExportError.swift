// MARK: - ExportError

/// The error of the export stage (estimate → plan → apply → **export**):
/// a requested file format cannot express the pruned model, an option is
/// invalid, or writing failed. No export error ever leaves a partial file.
///
/// The code is growable: other files add cases with
/// `extension ExportError.Code { public static let x = Code("x") }`.
public struct ExportError: Error, CustomStringConvertible, Sendable {
    /// A stable, machine-readable error kind.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name, e.g. `"unexpressible"`.
        public let name: String

        /// Creates a code; use a static constant rather than calling this at a throw site.
        public init(_ name: String) { self.name = name }

        /// The code's name.
        public var description: String { name }

        /// The requested format cannot express this model (for example
        /// per-layer shapes in HF safetensors, or a block llama.cpp cannot load).
        public static let unexpressible = Code("unexpressible")
        /// A weight cannot be stored in the requested precision (NaN, infinity,
        /// or a magnitude beyond the F16 range).
        public static let unrepresentableValue = Code("unrepresentableValue")
        /// The export options contradict each other or the model.
        public static let invalidOptions = Code("invalidOptions")
        /// The source model is not valid (its weights fail validation).
        public static let invalidModel = Code("invalidModel")
        /// A file read back for checking is malformed (for example a safetensors header).
        public static let malformedFile = Code("malformedFile")
        /// The operating system refused a file operation (create, write, rename).
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

    /// Whether trying again unchanged could succeed: only operating-system
    /// I/O failures can be transient; a model a format cannot express stays so.
    public var isRetriable: Bool { code == .io }

    /// Code, message and source location on one line.
    public var description: String { "ExportError.\(code): \(message) [\(file):\(line)]" }
}
