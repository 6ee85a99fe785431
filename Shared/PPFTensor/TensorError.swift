// Re-exported: every file of this module and its importers name its error through `CodedError`.
@_exported import PPFErrors

// MARK: - TensorError

/// The one error type of PPFTensor: a shape or argument a caller got wrong.
public typealias TensorError = CodedError<TensorErrorDomain>

/// The domain of ``TensorError``.
public enum TensorErrorDomain: ErrorDomain {
    public static let name = "TensorError"
}

extension TensorError.Code {
    /// Two operands (or a buffer and its declared shape) do not agree.
    public static var shapeMismatch: Self { Self("shapeMismatch") }

    /// An argument is outside the range the operation accepts.
    public static var invalidArgument: Self { Self("invalidArgument") }
}
