import Foundation
import Logging

/// A swift-log handler that writes one structured line per event to stderr.
///
/// `text` format (for people): `2026-11-29T04:10:00.123Z info agent/host-1 message key=value …`
/// `json` format (for machines): one JSON object per line with `time`, `level`,
/// `service`, `instance`, `message` and the metadata as string fields.
public struct StructuredLogHandler: LogHandler {
    /// Output format.
    public enum Format: String, Sendable { case text, json }

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    let label: String
    let format: Format
    let write: @Sendable (String) -> Void

    /// Creates a handler for `label` (the service/instance) writing to `write`
    /// (stderr by default).
    public init(label: String, level: Logger.Level, format: Format,
                write: @escaping @Sendable (String) -> Void = StructuredLogHandler.standardError) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        write(render(level: event.level, message: "\(event.message)", metadata: merged, date: Date()))
    }

    /// Renders one line (exposed for tests).
    func render(level: Logger.Level, message: String, metadata: Logger.Metadata, date: Date) -> String {
        let time = Self.timestamp(date)
        switch format {
        case .text:
            var line = "\(time) \(level.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)) \(label) \(message)"
            for key in metadata.keys.sorted() {
                line += " \(key)=\(Self.quoteIfNeeded("\(metadata[key]!)"))"
            }
            return line
        case .json:
            var object: [String: String] = ["time": time, "level": level.rawValue, "source": label, "message": message]
            for (key, value) in metadata where object[key] == nil { object[key] = "\(value)" }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let data = (try? encoder.encode(object)) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
    }

    static func quoteIfNeeded(_ value: String) -> String {
        guard value.isEmpty || value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) else {
            return value
        }
        let escaped = value.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        return "\"\(escaped)\""
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// Writes a line to standard error, whole.
    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// Logging bootstrap for a process; call once at start-up.
public enum LoggingSystemSetup {
    /// Installs ``StructuredLogHandler`` as the process's log handler, using
    /// the level and format from `settings`.
    /// Later calls do nothing: swift-log allows one bootstrap per process
    /// (tests start several contexts in one process).
    public static func bootstrap(_ settings: Settings) {
        lock.withLock {
            guard !done else { return }
            done = true
            let level = Logger.Level(rawValue: settings.logLevel) ?? .info
            let format = StructuredLogHandler.Format(rawValue: settings.logFormat) ?? .text
            let source = "\(settings.serviceName)/\(settings.instanceId)"
            LoggingSystem.bootstrap { _ in
                StructuredLogHandler(label: source, level: level, format: format)
            }
        }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var done = false
}
