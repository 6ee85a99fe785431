import Foundation

/// A PPF executable (a service or `ppf`) started as a real child process, for
/// tests that kill, restart and watch services the way an operator would.
/// Its stdout and stderr go to a log file the test can read.
public final class ServiceProcess: @unchecked Sendable {
    /// The child's pid.
    public let pid: pid_t
    /// Where its combined output goes.
    public let logFile: URL
    private let lock = NSLock()
    private var status: Int32?

    /// The folder holding the built executables (next to the test bundle).
    public static var executablesFolder: URL {
        // On Linux the test bundle is `<build>/debug/PPFPackageTests.xctest`,
        // an executable in the same folder as the products.
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }

    /// Starts `executable` (e.g. `"agent"`) with `arguments` and `environment`
    /// added to this process's environment.
    public static func start(_ executable: String, _ arguments: [String] = [],
                             environment: [String: String] = [:]) throws -> ServiceProcess {
        let path = executablesFolder.appendingPathComponent(executable).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestSetupError("\(path) is not built; run `swift build` before the integration tests")
        }
        return try launch(path: path, arguments, environment: environment, logName: executable)
    }

    /// Starts the program at `path` (any executable, e.g. a broker) with
    /// `arguments` and `environment` added to this process's environment; its
    /// output goes to a fresh log file named after `logName`.
    public static func launch(path: String, _ arguments: [String] = [], environment: [String: String] = [:],
                              logName: String) throws -> ServiceProcess {
        let log = FileManager.default.temporaryDirectory
            .appendingPathComponent("ppf-\(logName)-\(UUID().uuidString.prefix(8)).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)

        var merged = ProcessInfo.processInfo.environment
        merged.merge(environment) { _, new in new }
        let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { (envp + argv).forEach { free($0) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log.path, O_WRONLY | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, envp)
        guard spawned == 0 else {
            throw TestSetupError("could not start \(path): \(String(cString: strerror(spawned)))")
        }
        return ServiceProcess(pid: pid, logFile: log)
    }

    private init(pid: pid_t, logFile: URL) {
        self.pid = pid
        self.logFile = logFile
    }

    /// Everything the child printed so far.
    public var output: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Sends `signal` (SIGTERM, SIGKILL, SIGSTOP, SIGCONT, …).
    public func send(_ signal: Int32) { kill(pid, signal) }

    /// The child's resident set size (`VmRSS` in `/proc/<pid>/status`), in bytes;
    /// nil once it has exited or where there is no `/proc`.
    public var residentBytes: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        // "VmRSS:\t  123456 kB"
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 2, let kilobytes = Int(fields[1]) else { return nil }
        return kilobytes * 1024
    }

    /// Waits for the child to exit, up to `limit`.
    /// - Returns: how it ended.
    @discardableResult
    public func waitForExit(within limit: Duration = .seconds(30)) async throws -> Termination {
        if let status = lock.withLock({ status }) { return Termination(status) }
        let child = pid
        let raw: Int32 = try await withTimeLimit(limit) {
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    var status: Int32 = 0
                    while waitpid(child, &status, 0) < 0 && errno == EINTR {}
                    continuation.resume(returning: status)
                }
            }
        }
        lock.withLock { status = raw }
        return Termination(raw)
    }

    /// Every thread's stack of the running child, from `gdb -batch` (make setup installs it),
    /// for a failure message when the child hangs; a sentence saying why when there are none.
    public func threadStacks() -> String {
        let gdb = "/usr/bin/gdb"
        guard FileManager.default.isExecutableFile(atPath: gdb) else { return "(no thread stacks: \(gdb) is not installed)" }
        guard kill(pid, 0) == 0 else { return "(no thread stacks: pid \(pid) is not running)" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: gdb)
        process.arguments = ["-p", "\(pid)", "-batch", "-nx", "-ex", "thread apply all bt 25"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return "(no thread stacks: gdb did not start: \(error))" }
        // gdb stops the child while it reads it; a stuck gdb must not hang the test as well.
        let limit = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 30, execute: limit)
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        limit.cancel()
        process.waitUntilExit()
        let raw = String(decoding: data, as: UTF8.self)
        let text = raw.split(separator: "\n").filter { $0.hasPrefix("#") || $0.hasPrefix("Thread ") }.joined(separator: "\n")
        return text.isEmpty ? "(no thread stacks; gdb said: \(raw.suffix(1500)))" : text
    }

    /// Waits until the child's output contains `text`.
    public func waitForOutput(_ text: String, within limit: Duration = .seconds(30)) async throws {
        guard try await eventually(within: limit, { self.output.contains(text) }) else {
            throw TestSetupError("\(logFile.lastPathComponent) never printed '\(text)'; it printed:\n\(output.suffix(3000))")
        }
    }

    /// Kills the child if it still runs (for cleanup; never throws).
    public func stop() async {
        if lock.withLock({ status }) == nil {
            send(SIGKILL)
            _ = try? await waitForExit(within: .seconds(10))
        }
    }

    /// How a child process ended.
    public enum Termination: Equatable, Sendable, CustomStringConvertible {
        /// It called exit with this status.
        case exited(Int32)
        /// A signal ended it.
        case signalled(Int32)

        init(_ status: Int32) {
            let signal = status & 0x7f
            self = signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
        }

        public var description: String {
            switch self {
            case .exited(let code): "exited with status \(code)"
            case .signalled(let signal): "killed by signal \(signal)"
            }
        }
    }
}
