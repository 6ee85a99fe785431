import Foundation

/// A private PostgreSQL instance in a temporary folder, for tests that need
/// to control when a server is up. Never touches the shared local stack.
///
/// PostgreSQL refuses to run as root, so as root every server command runs
/// as the `postgres` user through `runuser`, in a folder that user owns.
public struct ThrowawayPostgres: Sendable {
    /// The folder holding data, logs and the socket.
    public let folder: URL
    /// The loopback port it listens on once started.
    public let port: Int
    private let binaries: URL

    /// The cluster's data folder.
    public var dataFolder: URL { folder.appendingPathComponent("data") }

    /// The URL of its `postgres` database as user `ppf`, once started.
    public var url: String { "postgresql://ppf@127.0.0.1:\(port)/postgres" }

    /// Creates the folder and runs `initdb` (trust auth, user `ppf`, no fsync).
    public static func initialize() async throws -> ThrowawayPostgres {
        let binaries = try findBinaries()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-pg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let server = ThrowawayPostgres(folder: folder, port: try freeLoopbackPort(), binaries: binaries)
        do {
            if getuid() == 0 {
                try await run("/bin/chown", ["postgres:postgres", folder.path])
            }
            try await server.runAsServerUser("initdb", [
                "-D", server.dataFolder.path, "-U", "ppf", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
            ])
            return server
        } catch {
            await server.remove()
            throw error
        }
    }

    /// Starts the server on `port` (loopback only) and waits until it accepts connections.
    public func start() async throws {
        try await runAsServerUser("pg_ctl", [
            "-D", dataFolder.path, "-l", folder.appendingPathComponent("server.log").path, "-w", "-t", "30",
            "-o", "-p \(port) -c listen_addresses=127.0.0.1 -c unix_socket_directories=\(folder.path) -c fsync=off",
            "start",
        ])
    }

    /// Stops the server the way an operator restarting it would (`pg_ctl stop -m fast`:
    /// sessions are disconnected); ``start()`` brings it back with its data.
    public func stop() async throws {
        try await runAsServerUser("pg_ctl", ["-D", dataFolder.path, "-m", "fast", "-w", "-t", "30", "stop"])
    }

    /// Stops the server (if running) and deletes the folder; never throws.
    public func remove() async {
        if FileManager.default.fileExists(atPath: dataFolder.appendingPathComponent("postmaster.pid").path) {
            _ = try? await runAsServerUser("pg_ctl", ["-D", dataFolder.path, "-m", "immediate", "-w", "stop"])
        }
        try? FileManager.default.removeItem(at: folder)
    }

    // MARK: - Processes

    private func runAsServerUser(_ tool: String, _ arguments: [String]) async throws {
        let path = binaries.appendingPathComponent(tool).path
        if getuid() == 0 {
            try await Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", path] + arguments, logFolder: folder)
        } else {
            try await Self.run(path, arguments, logFolder: folder)
        }
    }

    /// Runs a program to completion, its output appended to `commands.log` in
    /// `folder` (or discarded), without blocking a Swift concurrency thread.
    ///
    /// posix_spawn + waitpid rather than Foundation's `Process`: `pg_ctl start`
    /// leaves a daemon behind that inherits the child's descriptors, and
    /// `Process` on Linux then never reports the child's exit.
    public static func run(_ executable: String, _ arguments: [String], logFolder: URL? = nil) async throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let log = logFolder?.appendingPathComponent("commands.log").path ?? "/dev/null"
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw TestSetupError("could not start \(executable): \(String(cString: strerror(spawned)))")
        }
        let child = pid
        let status: Int32 = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var status: Int32 = 0
                while waitpid(child, &status, 0) < 0 && errno == EINTR {}
                continuation.resume(returning: status)
            }
        }
        // WIFEXITED(status) && WEXITSTATUS(status) == 0
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw TestSetupError("\(executable) \(arguments.joined(separator: " ")) failed (wait status \(status)): \(output.suffix(2000))")
        }
    }

    private static func findBinaries() throws -> URL {
        let root = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        guard let newest = versions.compactMap(Int.init).max() else {
            throw TestSetupError("no PostgreSQL server binaries under /usr/lib/postgresql; run 'make setup'")
        }
        return root.appendingPathComponent("\(newest)/bin")
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it).
public func freeLoopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw TestSetupError("socket() failed: \(errno)") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
            bind(descriptor, socketAddress, length) == 0 && getsockname(descriptor, socketAddress, &length) == 0
        }
    }
    guard bound else { throw TestSetupError("could not bind a loopback port: \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}
