// MARK: - Error codes of the LLaMA engine and its evaluation

extension ModelError.Code {
    /// Hyperparameters that cannot describe a LLaMA model (zero sizes, heads
    /// that do not divide into KV groups, per-layer arrays of the wrong length).
    public static var invalidConfiguration: Self { Self("invalidConfiguration") }
    /// A checkpoint holds a tensor the configuration does not explain.
    public static var unexpectedTensor: Self { Self("unexpectedTensor") }
    /// A token id is negative or not below the vocabulary size.
    public static var tokenOutOfRange: Self { Self("tokenOutOfRange") }
    /// More tokens than the session's cache (or the model's context) can hold.
    public static var contextOverflow: Self { Self("contextOverflow") }
    /// A KV cache that lacks the keys of earlier blocks (a resumed window) was asked to continue,
    /// or a window was asked to resume on a cache already in use.
    public static var incompleteCache: Self { Self("incompleteCache") }
    /// A dense prefix cache used with another model, tokens or window length than it was made for.
    public static var prefixCacheMismatch: Self { Self("prefixCacheMismatch") }
    /// A perplexity window is longer than the model's context length.
    public static var windowTooLong: Self { Self("windowTooLong") }
    /// A perplexity window is shorter than 2 tokens, so it predicts nothing.
    public static var windowTooShort: Self { Self("windowTooShort") }
    /// A split has fewer than two tokens, so there is nothing to predict.
    public static var emptySplit: Self { Self("emptySplit") }
    /// A dense reference that cannot be built as asked (top-k outside the
    /// vocabulary), or a model that does not fit it (another vocabulary or token count).
    public static var referenceMismatch: Self { Self("referenceMismatch") }
}
