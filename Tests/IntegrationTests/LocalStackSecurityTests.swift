import Foundation
import PPFRuntime
import PPFStore
import PPFTestSupport
import Testing

/// Issue 16 §4: the local PostgreSQL `infra/stack.sh` starts (what `make up`
/// and `make demo` run) asks every client for a password, the services' role
/// is no superuser, the passwords are readable by their owner only, and
/// fsync is on unless a throwaway test stack turns it off. Runs the real
/// script in a run folder of its own, on a free port.
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(3)))) struct LocalStackSecurityTests {
    struct Stack {
        let run: URL
        let port: Int

        /// Runs `infra/stack.sh arguments` against this run folder; its exit status and output.
        @discardableResult
        func script(_ arguments: [String], environment extra: [String: String] = [:]) async throws -> (status: Int32, output: String) {
            try await Self.execute("/bin/bash", [repositoryRoot() + "/infra/stack.sh"] + arguments,
                             environment: ["PPF_RUN_DIR": run.path, "PPF_PG_PORT": String(port)].merging(extra) { $1 })
        }

        static func execute(_ executable: String, _ arguments: [String], environment extra: [String: String] = [:]) async throws -> (status: Int32, output: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            var environment = ProcessInfo.processInfo.environment
            for key in ["PGPASSFILE", "PGPASSWORD", "PPF_PG_FSYNC"] { environment[key] = nil }
            process.environment = environment.merging(extra) { $1 }
            // A file, not a pipe: the PostgreSQL server the script starts inherits the writing end
            // of a pipe and keeps it open, so reading to its end would wait for the server to stop.
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-stack-log-\(UUID().uuidString.prefix(8))")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            defer { try? FileManager.default.removeItem(at: log) }
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
            // The termination handler, not waitUntilExit: that blocked here past the child's exit.
            let status: Int32 = try await withCheckedThrowingContinuation { continuation in
                process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
                do { try process.run() } catch { continuation.resume(throwing: error) }
            }
            try handle.close()
            return (status, String(decoding: try Data(contentsOf: log), as: UTF8.self))
        }

        /// The URL `stack.sh env` prints.
        func url() async throws -> String {
            let printed = try await script(["env"]).output
            guard let line = printed.split(separator: "\n").first(where: { $0.hasPrefix("export PPF_POSTGRES_URL=") }) else {
                throw TestSetupError("stack.sh env printed no PPF_POSTGRES_URL: \(printed)")
            }
            return String(line.dropFirst("export PPF_POSTGRES_URL=".count))
        }

        func query(_ sql: SQLQuery, url: String) async throws -> String {
            let connection = try await PGConnection.connect(try PostgresConfiguration(url: url), logger: quietLogger)
            return try await connection.query(sql).decode(String.self).first ?? ""
        }
    }

    @Test func theLocalDatabaseAsksForThePasswordAndServesAPlainRole() async throws {
        let run = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-stack-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let stack = Stack(run: run, port: try freeLoopbackPort())
        defer {
            // Synchronous clean-up: a defer cannot await.
            let down = Process()
            down.executableURL = URL(fileURLWithPath: "/bin/bash")
            down.arguments = [repositoryRoot() + "/infra/stack.sh", "pg-down"]
            down.environment = ProcessInfo.processInfo.environment.merging(["PPF_RUN_DIR": run.path, "PPF_PG_PORT": String(stack.port)]) { $1 }
            down.standardOutput = FileHandle.nullDevice
            down.standardError = FileHandle.nullDevice
            try? down.run()
            down.waitUntilExit()
            try? FileManager.default.removeItem(at: run)
        }
        let started = try await stack.script(["pg-up"])
        try #require(started.status == 0, "stack.sh pg-up failed: \(started.output)")

        // The services' URL carries the generated password, and works.
        let url = try await stack.url()
        let configuration = try PostgresConfiguration(url: url)
        #expect((configuration.password ?? "").count == 32, "a 32-hex-digit password in \(configuration)")
        #expect(try await stack.query("SELECT current_user::text", url: url) == "ppf")
        #expect(try await stack.query("SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user", url: url) == "false",
                "the services' role is not a superuser")
        #expect(try await stack.query("SHOW fsync", url: url) == "on", "the system of record keeps fsync on")

        // Without the password nobody gets in: over TCP from this process …
        let bare = url.replacingOccurrences(of: ":\(configuration.password ?? "")@", with: "@")
        await #expect(throws: StoreError.self, "a connection without the password must be refused") {
            _ = try await stack.query("SELECT 1::text", url: bare)
        }
        // … nor another OS user on the socket (root can run as `nobody`; otherwise only the TCP check holds).
        if getuid() == 0 {
            let psql = try FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql").sorted().last
                .map { "/usr/lib/postgresql/\($0)/bin/psql" } ?? "psql"
            let attempt = try await Stack.execute("/usr/sbin/runuser", ["-u", "nobody", "--", psql, "-w", "-h", run.appendingPathComponent("postgres").path,
                                                                 "-p", String(stack.port), "-U", "ppf", "-d", "ppf", "-tAc", "SELECT 1"])
            #expect(attempt.status != 0, "user nobody connected without a password: \(attempt.output)")
            #expect(attempt.output.contains("password"), "\(attempt.output)")
        }

        // The secrets are readable by their owner only.
        for name in ["ppf.password", "admin.password", "pgpass"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: run.appendingPathComponent("postgres/\(name)").path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(name) has mode \(String(describing: attributes[.posixPermissions]))")
        }

        // A restart keeps the password; a throwaway stack may turn fsync off.
        try #require(try await stack.script(["pg-down"]).status == 0)
        let restarted = try await stack.script(["pg-up"], environment: ["PPF_PG_FSYNC": "off"])
        try #require(restarted.status == 0, "\(restarted.output)")
        #expect(try await stack.url() == url)
        #expect(try await stack.query("SHOW fsync", url: url) == "off")
    }
}
