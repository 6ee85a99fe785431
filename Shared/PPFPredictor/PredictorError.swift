// MARK: - PredictorError

/// The one error type of PPFPredictor: input the predictor cannot use, or an
/// artifact it cannot load.
///
/// `Code` is growable (static lets), so new failure kinds do not break
/// `switch`es in other modules. The source location is captured by default
/// arguments so a message can be traced back to the check that raised it.
public struct PredictorError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, as a stable, comparable value.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable name of the code, e.g. `layerCountMismatch`.
        public let name: String
        /// Creates a code; other modules may add their own in extensions.
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A policy or feature row has a different number of layers than the feature spec.
        public static let layerCountMismatch = Code("layerCountMismatch")
        /// A feature row has a different number of per-layer channels than the feature spec.
        public static let channelCountMismatch = Code("channelCountMismatch")
        /// The global scalars do not match the feature spec's global channels.
        public static let globalCountMismatch = Code("globalCountMismatch")
        /// A channel the feature spec requires was not supplied.
        public static let missingChannel = Code("missingChannel")
        /// A channel was supplied that the feature spec does not name.
        public static let unknownChannel = Code("unknownChannel")
        /// Features were built for a different feature spec than the predictor's.
        public static let featureSpecMismatch = Code("featureSpecMismatch")
        /// The feature spec itself is malformed (no layers, duplicate or empty names).
        public static let invalidFeatureSpec = Code("invalidFeatureSpec")
        /// A ratio lies outside [0, 1].
        public static let ratioOutOfRange = Code("ratioOutOfRange")
        /// A feature, target or metric input is NaN or infinite.
        public static let nonFiniteValue = Code("nonFiniteValue")
        /// A perplexity is not a positive finite number.
        public static let invalidPerplexity = Code("invalidPerplexity")
        /// Two training samples share an id.
        public static let duplicateSampleId = Code("duplicateSampleId")
        /// Too few measured policies to train (or to hold some out).
        public static let tooFewSamples = Code("tooFewSamples")
        /// A hyper-parameter is outside its valid range.
        public static let invalidHyperparameter = Code("invalidHyperparameter")
        /// Two sequences that must be paired have different lengths.
        public static let lengthMismatch = Code("lengthMismatch")
        /// A metric is undefined for the input (e.g. a rank correlation of a constant sequence).
        public static let degenerateInput = Code("degenerateInput")
        /// An artifact could not be decoded, or its contents disagree with each other.
        public static let invalidArtifact = Code("invalidArtifact")
        /// An artifact was written with a schema version this build does not read.
        public static let unsupportedSchemaVersion = Code("unsupportedSchemaVersion")
    }

    /// The kind of failure.
    public let code: Code
    /// What happened and what to do about it, for a person.
    public let message: String
    /// The file that raised the error.
    public let file: String
    /// The line that raised the error.
    public let line: Int

    /// Creates an error, capturing the caller's location.
    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    /// Every predictor error is caused by its input; retrying the same input cannot help.
    public var isRetriable: Bool { false }

    public var description: String { "PredictorError.\(code): \(message) [\(file):\(line)]" }
}
