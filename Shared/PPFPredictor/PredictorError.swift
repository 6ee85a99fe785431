// Re-exported: every file of this module and its importers name its error through `CodedError`.
@_exported import PPFErrors

// MARK: - PredictorError

/// The one error type of PPFPredictor: input the predictor cannot use, or an
/// artifact it cannot load.
public typealias PredictorError = CodedError<PredictorErrorDomain>

/// The domain of ``PredictorError``.
public enum PredictorErrorDomain: ErrorDomain {
    public static let name = "PredictorError"
}

extension PredictorError.Code {
    /// A policy or feature row has a different number of layers than the feature spec.
    public static var layerCountMismatch: Self { Self("layerCountMismatch") }

    /// A feature row has a different number of per-layer channels than the feature spec.
    public static var channelCountMismatch: Self { Self("channelCountMismatch") }

    /// The global scalars do not match the feature spec's global channels.
    public static var globalCountMismatch: Self { Self("globalCountMismatch") }

    /// A channel the feature spec requires was not supplied.
    public static var missingChannel: Self { Self("missingChannel") }

    /// A channel was supplied that the feature spec does not name.
    public static var unknownChannel: Self { Self("unknownChannel") }

    /// Features were built for a different feature spec than the predictor's.
    public static var featureSpecMismatch: Self { Self("featureSpecMismatch") }

    /// The feature spec itself is malformed (no layers, duplicate or empty names).
    public static var invalidFeatureSpec: Self { Self("invalidFeatureSpec") }

    /// A ratio lies outside [0, 1].
    public static var ratioOutOfRange: Self { Self("ratioOutOfRange") }

    /// A feature, target or metric input is NaN or infinite.
    public static var nonFiniteValue: Self { Self("nonFiniteValue") }

    /// A perplexity is not a positive finite number.
    public static var invalidPerplexity: Self { Self("invalidPerplexity") }

    /// Two training samples share an id.
    public static var duplicateSampleId: Self { Self("duplicateSampleId") }

    /// Too few measured policies to train (or to hold some out).
    public static var tooFewSamples: Self { Self("tooFewSamples") }

    /// A hyper-parameter is outside its valid range.
    public static var invalidHyperparameter: Self { Self("invalidHyperparameter") }

    /// Two sequences that must be paired have different lengths.
    public static var lengthMismatch: Self { Self("lengthMismatch") }

    /// A metric is undefined for the input (e.g. a rank correlation of a constant sequence).
    public static var degenerateInput: Self { Self("degenerateInput") }

    /// An artifact could not be decoded, or its contents disagree with each other.
    public static var invalidArtifact: Self { Self("invalidArtifact") }

    /// An artifact was written with a schema version this build does not read.
    public static var unsupportedSchemaVersion: Self { Self("unsupportedSchemaVersion") }
}
