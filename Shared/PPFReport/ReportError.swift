// Re-exported: every file of this module and its importers name its error through `CodedError`.
@_exported import PPFErrors

/// The one error type of PPFReport: why a chart or image could not be made or written.
public typealias ReportError = CodedError<ReportErrorDomain>

/// The domain of ``ReportError``.
public enum ReportErrorDomain: ErrorDomain {
    public static let name = "ReportError"
}

extension ReportError.Code {
    /// The requested image size is too small or too large to draw.
    public static var invalidSize: Self { Self("invalidSize") }

    /// Writing the file failed.
    public static var writeFailed: Self { Self("writeFailed") }
}
