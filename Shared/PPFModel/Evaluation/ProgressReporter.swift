import Foundation

// MARK: - ProgressReporter

/// Receives the progress of a long evaluation (one update per window).
public protocol ProgressReporter: AnyObject {
    /// Work begins: `total` steps of `unit` (e.g. "windows").
    func start(total: Int, unit: String)
    /// `completed` of `total` steps are done; `detail` is a short status (e.g. running perplexity).
    func update(completed: Int, detail: String)
    /// Work ended (successfully or not); release the terminal line.
    func finish()
}

// MARK: - TerminalProgressBar

/// A one-line progress bar on standard error, redrawn in place, drawn only
/// when standard error is a terminal (so logs and CI output stay clean).
///
/// `[#########...........]  9/32 windows  ppl 17.214  ETA 41 s`
public final class TerminalProgressBar: ProgressReporter, @unchecked Sendable {
    // @unchecked: all state is guarded by `lock`.
    private let lock = NSLock()
    private let width: Int
    private let enabled: Bool
    private var total = 0
    private var unit = ""
    private var startTime = Date()

    /// Whether the bar is drawn (standard error is a terminal, unless overridden);
    /// callers print plain progress lines when it is not.
    public var isDrawing: Bool { enabled }

    /// A bar `width` characters wide; `enabled` defaults to "stderr is a TTY".
    public init(width: Int = 30, enabled: Bool? = nil) {
        self.width = max(5, width)
        self.enabled = enabled ?? (isatty(FileHandle.standardError.fileDescriptor) == 1)
    }

    /// Remembers the total and the start time, and draws an empty bar.
    public func start(total: Int, unit: String) {
        lock.withLock {
            self.total = total
            self.unit = unit
            startTime = Date()
        }
        update(completed: 0, detail: "")
    }

    /// Redraws the bar in place (when enabled).
    public func update(completed: Int, detail: String) {
        let line = lock.withLock { render(completed: completed, detail: detail) }
        guard enabled else { return }
        FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
    }

    /// Ends the bar's line (when enabled).
    public func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }

    /// The bar's text for `completed` steps (exposed for tests).
    func render(completed: Int, detail: String) -> String {
        let fraction = total > 0 ? min(1, Double(completed) / Double(total)) : 0
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        var text = "[\(bar)] \(completed)/\(total) \(unit)"
        if !detail.isEmpty { text += "  \(detail)" }
        if completed > 0, completed < total {
            let elapsed = Date().timeIntervalSince(startTime)
            let remaining = elapsed / Double(completed) * Double(total - completed)
            text += String(format: "  ETA %.0f s", remaining)
        }
        return text
    }
}
