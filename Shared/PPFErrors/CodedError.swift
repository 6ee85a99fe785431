// MARK: - ErrorDomain

/// One module's family of errors (PPFModel's, PPFPruning's, …): the name its
/// messages carry and which of its codes a retry can help. Each module
/// declares one domain and names its error `CodedError<ItsDomain>`, so every
/// module's errors have the same shape and behaviour, written once.
public protocol ErrorDomain: Sendable {
    /// The type name messages start with, e.g. `PruningError`.
    static var name: String { get }
    /// Whether a failure with `code` can go away when retried (I/O). The
    /// default is no: input and programming errors fail the same way again.
    static func isRetriable(_ code: ErrorCode<Self>) -> Bool
}

extension ErrorDomain {
    public static func isRetriable(_ code: ErrorCode<Self>) -> Bool { false }
}

// MARK: - ErrorCode

/// What went wrong, as a stable, comparable value of one domain.
///
/// Codes are growable (modules add `static var`s in extensions of their
/// domain's code), so a new failure kind does not break a `switch` elsewhere.
public struct ErrorCode<Domain: ErrorDomain>: Hashable, Sendable, CustomStringConvertible {
    /// The stable name of the code, e.g. `invalidRatio`.
    public let name: String

    /// The code called `name`.
    public init(_ name: String) { self.name = name }

    public var description: String { name }
}

// MARK: - CodedError

/// An error of one domain: a code, a sentence for a person (what happened and
/// what to do about it), and the source location that raised it, captured
/// by default arguments so a message can be traced to its call.
public struct CodedError<Domain: ErrorDomain>: Error, CustomStringConvertible, Sendable {
    /// The domain's codes.
    public typealias Code = ErrorCode<Domain>

    /// The kind of failure.
    public let code: Code
    /// What happened and what to do about it, for a person.
    public let message: String
    /// The file that raised the error.
    public let file: String
    /// The line that raised the error.
    public let line: Int

    /// An error with `code` and `message`, raised at the caller's location.
    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    /// Whether retrying the operation can help (the domain decides per code).
    public var isRetriable: Bool { Domain.isRetriable(code) }

    /// `Domain.code: message [file:line]`.
    public var description: String { "\(Domain.name).\(code): \(message) [\(file):\(line)]" }
}
