// MARK: - ModelError

/// The one error type of `PPFModel`: reading, writing and interpreting model
/// files, tokenizing, and (added by other parts of the module) evaluating.
///
/// The code is growable: other files add cases with
/// `extension ModelError.Code { public static let emptySplit = Code("emptySplit") }`.
/// The message says what was wrong and, where possible, what to do about it.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    /// A stable, machine-readable error kind.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name, e.g. `"truncated"`.
        public let name: String

        /// Creates a code; use a static constant rather than calling this at a throw site.
        public init(_ name: String) { self.name = name }

        public var description: String { name }

        /// The file does not start with the `GGUF` magic: it is not a GGUF file.
        public static let badMagic = Code("badMagic")
        /// The GGUF version is not one this reader understands (only v2 and v3 are).
        public static let unsupportedVersion = Code("unsupportedVersion")
        /// A length, count or offset points past the end of the file.
        public static let truncated = Code("truncated")
        /// A tensor type (or metadata value type) this code does not know or cannot convert.
        public static let unsupportedType = Code("unsupportedType")
        /// A tensor the caller asked for is not in the file.
        public static let missingTensor = Code("missingTensor")
        /// A tensor's dimensions disagree with what the caller or the format requires.
        public static let shapeMismatch = Code("shapeMismatch")
        /// A required metadata key is absent.
        public static let missingMetadata = Code("missingMetadata")
        /// A metadata key is present but has the wrong type or an impossible value.
        public static let invalidMetadata = Code("invalidMetadata")
        /// A tensor description is malformed (duplicate name, misaligned offset, too many dimensions).
        public static let invalidTensor = Code("invalidTensor")
        /// The tokenizer kind named in the metadata is not implemented.
        public static let unsupportedTokenizer = Code("unsupportedTokenizer")
        /// The operating system refused a file operation (open, map, write, rename).
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

    /// Whether trying again unchanged could succeed. Only operating-system
    /// I/O failures can be transient; a malformed file stays malformed.
    public var isRetriable: Bool { code == .io }

    public var description: String { "ModelError.\(code): \(message) [\(file):\(line)]" }
}
