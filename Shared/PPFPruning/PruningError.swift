import PPFModel

// MARK: - PruningError

/// The one error type of `PPFPruning`: calibration, importance, planning,
/// applying a plan, baseline policies and policy files.
///
/// The code is growable: a file that needs a new kind adds
/// `extension PruningError.Code { public static let … = Code("…") }`.
/// The message says what was wrong and what to do about it.
public struct PruningError: Error, CustomStringConvertible, Sendable {
    /// A stable, machine-readable error kind.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name, e.g. `"invalidRatio"`.
        public let name: String

        /// Creates a code; use a static constant rather than calling this at a throw site.
        public init(_ name: String) { self.name = name }

        /// The code's name.
        public var description: String { name }

        /// A ratio is outside its range (a target outside [0, 1), a layer ratio outside [0, 1], NaN).
        public static let invalidRatio = Code("invalidRatio")
        /// A policy (or policy file) has a different number of blocks than the model.
        public static let policyShapeMismatch = Code("policyShapeMismatch")
        /// A block would lose every attention head without being dropped whole.
        public static let removesEveryHead = Code("removesEveryHead")
        /// A block would lose every MLP channel without being dropped whole.
        public static let removesEveryChannel = Code("removesEveryChannel")
        /// Every block would be dropped: nothing would be left to run.
        public static let dropsEveryBlock = Code("dropsEveryBlock")
        /// The achieved ratio misses the requested target by more than the tolerance.
        public static let targetNotReached = Code("targetNotReached")
        /// A plan does not fit the weights it is applied to (layer count, shapes, indices).
        public static let planMismatch = Code("planMismatch")
        /// Calibration statistics are needed (by the metric or bias compensation) but absent.
        public static let missingStatistics = Code("missingStatistics")
        /// Calibration statistics do not fit the model (layer count or widths differ).
        public static let statisticsMismatch = Code("statisticsMismatch")
        /// Importance scores do not fit the model (another block count or structure counts).
        public static let scoresMismatch = Code("scoresMismatch")
        /// The calibration specification cannot be run (zero windows, too few tokens).
        public static let invalidCalibration = Code("invalidCalibration")
        /// A metric or baseline name is not one this module implements.
        public static let unknownName = Code("unknownName")
        /// A policy file is malformed (bad JSON, unknown format version, bad layer entries).
        public static let invalidPolicyFile = Code("invalidPolicyFile")
        /// The operating system refused a file operation (cache or policy file).
        /// A results file (the baselines CSV) that cannot be read back.
        public static let invalidResults = Code("invalidResults")
        public static let io = Code("io")
        /// The model engine failed (loading, running or evaluating a model).
        public static let model = Code("model")
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

    /// Wraps a model-engine error, keeping its message. The policy checks of
    /// PPFModel's `ParameterAccounting` keep their code (`policyShapeMismatch`,
    /// `invalidRatio`, `removesEveryHead`, `removesEveryChannel`,
    /// `dropsEveryBlock` have namesakes here), so callers of the planner still
    /// see what was wrong with the policy; anything else becomes `model`.
    public init(wrapping error: ModelError, file: String = #fileID, line: UInt = #line) {
        let policyCodes: [ModelError.Code: Code] = [
            .policyShapeMismatch: .policyShapeMismatch, .invalidRatio: .invalidRatio,
            .removesEveryHead: .removesEveryHead, .removesEveryChannel: .removesEveryChannel,
            .dropsEveryBlock: .dropsEveryBlock,
        ]
        if let code = policyCodes[error.code] {
            self.init(code, error.message, file: file, line: line)
        } else {
            self.init(.model, "\(error.code): \(error.message)", file: file, line: line)
        }
    }

    /// Whether trying again unchanged could succeed: only file-system failures can be transient.
    public var isRetriable: Bool { code == .io }

    /// Code, message and source location on one line.
    public var description: String { "PruningError.\(code): \(message) [\(file):\(line)]" }
}
