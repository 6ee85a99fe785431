// Re-exported: every file of this module and its importers name its error through `CodedError`.
@_exported import PPFErrors

// MARK: - ModelError

/// The one error type of `PPFModel`: reading, writing and interpreting model
/// files, tokenizing, and (added by other parts of the module) evaluating.
///
/// `extension ModelError.Code { public static let emptySplit = Code("emptySplit") }`.
/// The message says what was wrong and, where possible, what to do about it.
public typealias ModelError = CodedError<ModelErrorDomain>

/// The domain of ``ModelError``.
public enum ModelErrorDomain: ErrorDomain {
    public static let name = "ModelError"

    /// Only I/O can go away on retry.
    public static func isRetriable(_ code: ErrorCode<Self>) -> Bool { code == .io }
}

extension ModelError.Code {
    /// The file does not start with the `GGUF` magic: it is not a GGUF file.
    public static var badMagic: Self { Self("badMagic") }

    /// The GGUF version is not one this reader understands (only v2 and v3 are).
    public static var unsupportedVersion: Self { Self("unsupportedVersion") }

    /// A length, count or offset points past the end of the file.
    public static var truncated: Self { Self("truncated") }

    /// A tensor type (or metadata value type) this code does not know or cannot convert.
    public static var unsupportedType: Self { Self("unsupportedType") }

    /// A tensor the caller asked for is not in the file.
    public static var missingTensor: Self { Self("missingTensor") }

    /// A tensor's dimensions disagree with what the caller or the format requires.
    public static var shapeMismatch: Self { Self("shapeMismatch") }

    /// A required metadata key is absent.
    public static var missingMetadata: Self { Self("missingMetadata") }

    /// A metadata key is present but has the wrong type or an impossible value.
    public static var invalidMetadata: Self { Self("invalidMetadata") }

    /// A tensor description is malformed (duplicate name, misaligned offset, too many dimensions).
    public static var invalidTensor: Self { Self("invalidTensor") }

    /// The tokenizer kind named in the metadata is not implemented.
    public static var unsupportedTokenizer: Self { Self("unsupportedTokenizer") }

    /// The operating system refused a file operation (open, map, write, rename).
    public static var io: Self { Self("io") }
}
