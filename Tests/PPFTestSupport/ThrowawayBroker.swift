import Foundation

/// A private Tansu broker (the local stack's Kafka-protocol broker, memory
/// storage) on a free loopback port, for tests that must control when the
/// broker dies, or must not share topics and their backlog with anyone.
/// Never touches the shared local stack.
///
/// Tansu keeps topics, offsets and groups in memory: after ``kill()`` and
/// ``restart()`` on the same port, clients reconnect to an empty broker, as
/// they do after the local stack's broker restarts.
public final class ThrowawayBroker: @unchecked Sendable {
    /// The loopback port it listens on.
    public let port: Int
    private let executable: String
    private let lock = NSLock()
    // Guarded by `lock`: the running broker process, if any.
    private var process: ServiceProcess?

    /// `host:port`, the value of `PPF_KAFKA_BROKERS` for services using this broker.
    public var bootstrapServers: String { "127.0.0.1:\(port)" }

    private init(port: Int, executable: String) {
        self.port = port
        self.executable = executable
    }

    /// Starts a broker on a free port and waits until it accepts connections.
    /// - Throws: ``TestSetupError`` when the broker is not provisioned or does not come up.
    public static func start() async throws -> ThrowawayBroker {
        let path = repositoryRoot + "/.deps/bin/tansu"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestSetupError("the broker is not provisioned at \(path); run `make setup`")
        }
        let broker = ThrowawayBroker(port: try freeLoopbackPort(), executable: path)
        try await broker.restart()
        return broker
    }

    /// Starts the broker again on the same port (after ``kill()``), empty.
    public func restart() async throws {
        let url = "tcp://127.0.0.1:\(port)"
        let started = try ServiceProcess.launch(
            path: executable, ["broker", "--listener-url", url, "--advertised-listener-url", url,
                               "--storage-engine", "memory://tansu/"],
            logName: "tansu-\(port)")
        lock.withLock { process = started }
        guard try await eventually(within: .seconds(20), { Self.accepts(port: self.port) }) else {
            await started.stop()
            throw TestSetupError("the broker did not listen on \(bootstrapServers) within 20 s: \(started.output.suffix(2000))")
        }
    }

    /// Kills the broker with SIGKILL (it loses every topic, offset and group) and waits for it to exit.
    public func kill() async {
        guard let running = lock.withLock({ process }) else { return }
        running.send(SIGKILL)
        _ = try? await running.waitForExit(within: .seconds(10))
        lock.withLock { process = nil }
    }

    /// Stops the broker if it runs (for cleanup; never throws).
    public func stop() async { await kill() }

    /// What the running broker printed so far.
    public var output: String { lock.withLock { process }?.output ?? "" }

    // MARK: - Helpers

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    static func accepts(port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// The repository root: `PPF_ROOT`, else the folder this file sits two levels below.
    static var repositoryRoot: String {
        if let root = ProcessInfo.processInfo.environment["PPF_ROOT"], !root.isEmpty { return root }
        // Tests/PPFTestSupport/ThrowawayBroker.swift → three levels up.
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }
}
