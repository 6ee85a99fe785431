import Foundation

// MARK: - Machine

/// What a benchmark ran on, for the line beside its numbers: libraries pick
/// different kernels on different CPUs (an AMD EPYC and an Intel Xeon with
/// AVX-512 give other timings and other float rounding).
public enum Machine {
    /// The CPU's model name from `/proc/cpuinfo` ("unknown CPU" elsewhere).
    public static var cpuModel: String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":") else { return "unknown CPU" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }

    /// "CPU model, N cores; OpenBLAS version, kernel K, T thread(s)".
    public static var description: String {
        "\(cpuModel), \(ProcessInfo.processInfo.activeProcessorCount) cores; \(BLAS.summary)"
    }
}
