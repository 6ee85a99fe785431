import Foundation

// MARK: - ProcessMemory

/// A process's memory as Linux reports it in `/proc/<pid>/status`.
public enum ProcessMemory {
    /// The resident set size (`VmRSS`) of process `pid`, in bytes; nil where
    /// there is no `/proc` or once the process has exited.
    public static func residentBytes(pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        // "VmRSS:\t  123456 kB"
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 2, let kilobytes = Int(fields[1]) else { return nil }
        return kilobytes * 1024
    }
}
