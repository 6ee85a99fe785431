// Re-exported: every file of this module and its importers name its error through `CodedError`.
@_exported import PPFErrors

// MARK: - ExportError

/// The error of the export stage (estimate → plan → apply → **export**):
/// a requested file format cannot express the pruned model, an option is
/// invalid, or writing failed. No export error ever leaves a partial file.
///
/// `extension ExportError.Code { public static let x = Code("x") }`.
public typealias ExportError = CodedError<ExportErrorDomain>

/// The domain of ``ExportError``.
public enum ExportErrorDomain: ErrorDomain {
    public static let name = "ExportError"

    /// Only I/O can go away on retry.
    public static func isRetriable(_ code: ErrorCode<Self>) -> Bool { code == .io }
}

extension ExportError.Code {
    /// The requested format cannot express this model (for example
    /// per-layer shapes in HF safetensors, or a block llama.cpp cannot load).
    public static var unexpressible: Self { Self("unexpressible") }

    /// A weight cannot be stored in the requested precision (NaN, infinity,
    /// or a magnitude beyond the F16 range).
    public static var unrepresentableValue: Self { Self("unrepresentableValue") }

    /// The export options contradict each other or the model.
    public static var invalidOptions: Self { Self("invalidOptions") }

    /// The source model is not valid (its weights fail validation).
    public static var invalidModel: Self { Self("invalidModel") }

    /// A file read back for checking is malformed (for example a safetensors header).
    public static var malformedFile: Self { Self("malformedFile") }

    /// The operating system refused a file operation (create, write, rename).
    public static var io: Self { Self("io") }
}
