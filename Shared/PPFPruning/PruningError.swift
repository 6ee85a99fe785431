import PPFModel

// Re-exported: every file of this module and its importers name its error through `CodedError`.
@_exported import PPFErrors

// MARK: - PruningError

/// The one error type of `PPFPruning`: calibration, importance, planning,
/// applying a plan, baseline policies and policy files.
///
/// `extension PruningError.Code { public static let … = Code("…") }`.
/// The message says what was wrong and what to do about it.
public typealias PruningError = CodedError<PruningErrorDomain>

/// The domain of ``PruningError``.
public enum PruningErrorDomain: ErrorDomain {
    public static let name = "PruningError"

    /// Only I/O can go away on retry.
    public static func isRetriable(_ code: ErrorCode<Self>) -> Bool { code == .io }
}

extension PruningError.Code {
    /// A ratio is outside its range (a target outside [0, 1), a layer ratio outside [0, 1], NaN).
    public static var invalidRatio: Self { Self("invalidRatio") }

    /// A policy (or policy file) has a different number of blocks than the model.
    public static var policyShapeMismatch: Self { Self("policyShapeMismatch") }

    /// A block would lose every attention head without being dropped whole.
    public static var removesEveryHead: Self { Self("removesEveryHead") }

    /// A block would lose every MLP channel without being dropped whole.
    public static var removesEveryChannel: Self { Self("removesEveryChannel") }

    /// Every block would be dropped: nothing would be left to run.
    public static var dropsEveryBlock: Self { Self("dropsEveryBlock") }

    /// The achieved ratio misses the requested target by more than the tolerance.
    public static var targetNotReached: Self { Self("targetNotReached") }

    /// A plan does not fit the weights it is applied to (layer count, shapes, indices).
    public static var planMismatch: Self { Self("planMismatch") }

    /// Calibration statistics are needed (by the metric or bias compensation) but absent.
    public static var missingStatistics: Self { Self("missingStatistics") }

    /// Calibration statistics do not fit the model (layer count or widths differ).
    public static var statisticsMismatch: Self { Self("statisticsMismatch") }

    /// Importance scores do not fit the model (another block count or structure counts).
    public static var scoresMismatch: Self { Self("scoresMismatch") }

    /// The calibration specification cannot be run (zero windows, too few tokens).
    public static var invalidCalibration: Self { Self("invalidCalibration") }

    /// A metric or baseline name is not one this module implements.
    public static var unknownName: Self { Self("unknownName") }

    /// A policy file is malformed (bad JSON, unknown format version, bad layer entries).
    public static var invalidPolicyFile: Self { Self("invalidPolicyFile") }

    /// The operating system refused a file operation (cache or policy file).
    /// A results file (the baselines CSV) that cannot be read back.
    public static var invalidResults: Self { Self("invalidResults") }

    public static var io: Self { Self("io") }

    /// The model engine failed (loading, running or evaluating a model).
    public static var model: Self { Self("model") }
}

extension PruningError {
    /// Wraps a model-engine error, keeping its message. The policy checks of
    /// PPFModel's `ParameterAccounting` keep their code (`policyShapeMismatch`,
    /// `invalidRatio`, `removesEveryHead`, `removesEveryChannel`,
    /// `dropsEveryBlock` have namesakes here), so callers of the planner still
    /// see what was wrong with the policy; anything else becomes `model`.
    public init(wrapping error: ModelError, file: String = #fileID, line: Int = #line) {
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
}
