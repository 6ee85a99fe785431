/// The one error type of PPFReport: why a chart or image could not be made or written.
public struct ReportError: Error, CustomStringConvertible, Sendable {
    /// A growable set of failure kinds.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The short name of the kind.
        public let name: String
        /// Makes a code; add new kinds as static lets.
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The requested image size is too small or too large to draw.
        public static let invalidSize = Code("invalidSize")
        /// Writing the file failed.
        public static let writeFailed = Code("writeFailed")
    }

    /// What kind of failure this is.
    public let code: Code
    /// What went wrong and what to do about it.
    public let message: String
    /// Where the error was raised.
    public let file: String
    /// The line where the error was raised.
    public let line: Int

    /// Makes an error, capturing the source location.
    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String { "\(code): \(message) (\(file):\(line))" }
}
