// MARK: - Error codes of the LLaMA engine and its evaluation

extension ModelError.Code {
    /// Hyperparameters that cannot describe a LLaMA model (zero sizes, heads
    /// that do not divide into KV groups, per-layer arrays of the wrong length).
    public static let invalidConfiguration = ModelError.Code("invalidConfiguration")
    /// A checkpoint holds a tensor the configuration does not explain.
    public static let unexpectedTensor = ModelError.Code("unexpectedTensor")
    /// A token id is negative or not below the vocabulary size.
    public static let tokenOutOfRange = ModelError.Code("tokenOutOfRange")
    /// More tokens than the session's cache (or the model's context) can hold.
    public static let contextOverflow = ModelError.Code("contextOverflow")
    /// A perplexity window is longer than the model's context length.
    public static let windowTooLong = ModelError.Code("windowTooLong")
    /// A perplexity window is shorter than 2 tokens, so it predicts nothing.
    public static let windowTooShort = ModelError.Code("windowTooShort")
    /// A split has fewer than two tokens, so there is nothing to predict.
    public static let emptySplit = ModelError.Code("emptySplit")
}
