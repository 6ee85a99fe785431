import Foundation

/// Where and how to connect to PostgreSQL.
///
/// A plain value: PPFRuntime reads the environment (e.g. `PPF_POSTGRES_URL`)
/// and builds one with ``init(url:)``; this module never reads the
/// environment itself. ``conninfo`` is the one place that turns it into
/// libpq's key/value string.
public struct PostgresConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// Server host name or address. Default `127.0.0.1`.
    public var host: String
    /// Server port. Default 5432.
    public var port: Int
    /// Role to log in as.
    public var user: String
    /// Password, if the server asks for one. Never printed.
    public var password: String?
    /// Database name.
    public var database: String
    /// Shown in `pg_stat_activity.application_name`. Default `ppf`.
    public var applicationName: String
    /// Give up a single connection attempt after this long (libpq counts whole
    /// seconds, at least 2). Default 5 s.
    public var connectTimeout: Duration
    /// Server-side `statement_timeout`, so a runaway statement cannot hold a
    /// connection forever; `nil` keeps the server default (none). Default 30 s.
    public var statementTimeout: Duration?
    /// Schemas for `search_path`, first one receives new tables; empty keeps the
    /// server default (`"$user", public`). Tests set a unique schema here.
    public var searchPath: [String]
    /// Backoff for ``connectWithRetry(_:logger:)``. Default ``RetryPolicy/standard``.
    public var connectRetry: RetryPolicy

    /// Creates a configuration; every default is documented on its property.
    public init(host: String = "127.0.0.1", port: Int = 5432, user: String, password: String? = nil,
                database: String, applicationName: String = "ppf", connectTimeout: Duration = .seconds(5),
                statementTimeout: Duration? = .seconds(30), searchPath: [String] = [],
                connectRetry: RetryPolicy = .standard) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.applicationName = applicationName
        self.connectTimeout = connectTimeout
        self.statementTimeout = statementTimeout
        self.searchPath = searchPath
        self.connectRetry = connectRetry
    }

    // MARK: - URL

    /// The query parameters ``init(url:)`` understands.
    public static let urlParameters = ["application_name", "connect_timeout", "statement_timeout", "search_path"]

    /// Parses `postgresql://user[:password]@host[:port]/database[?parameters]`
    /// (`postgres://` is accepted too; user, password and database are
    /// percent-decoded).
    ///
    /// Parameters: `application_name`, `connect_timeout` (seconds),
    /// `statement_timeout` (milliseconds, 0 = none), `search_path`
    /// (comma-separated). Anything else is rejected so a typo is not silently
    /// ignored.
    /// - Throws: ``StoreError`` with code `invalidConfiguration`.
    public init(url: String) throws {
        func invalid(_ why: String) -> StoreError {
            // The URL itself may hold a password: describe it without one.
            StoreError(.invalidConfiguration, "invalid PostgreSQL URL (\(why)); expected postgresql://user[:password]@host[:port]/database")
        }
        guard let components = URLComponents(string: url) else { throw invalid("does not parse as a URL") }
        guard let scheme = components.scheme, ["postgresql", "postgres"].contains(scheme.lowercased()) else {
            throw invalid("scheme must be postgresql://")
        }
        guard let host = components.host, !host.isEmpty else { throw invalid("no host") }
        guard let user = components.user, !user.isEmpty else { throw invalid("no user") }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else { throw invalid("no database name after the host") }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw invalid("port \(port) out of range") }

        // URLComponents keeps brackets around IPv6 literals; libpq wants them bare.
        let bareHost = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.init(host: bareHost, port: port, user: user,
                  password: components.password, database: database.removingPercentEncoding ?? database)

        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "application_name":
                applicationName = value
            case "connect_timeout":
                guard let seconds = Int(value), seconds > 0 else { throw invalid("connect_timeout must be whole seconds > 0") }
                connectTimeout = .seconds(seconds)
            case "statement_timeout":
                guard let millis = Int(value), millis >= 0 else { throw invalid("statement_timeout must be milliseconds >= 0") }
                statementTimeout = millis == 0 ? nil : .milliseconds(millis)
            case "search_path":
                searchPath = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            default:
                throw invalid("unknown parameter '\(item.name)'; supported: \(Self.urlParameters.joined(separator: ", "))")
            }
        }
    }

    // MARK: - libpq

    /// The libpq connection string (`key='value' …`), built in this one place.
    ///
    /// Every value is single-quoted with `\` and `'` escaped, as libpq's
    /// conninfo grammar requires; server settings travel in `options` as
    /// `-c name=value`, where spaces and backslashes are escaped once more.
    var conninfo: String {
        var pairs: [(String, String)] = [
            ("host", host), ("port", String(port)), ("user", user), ("dbname", database),
            ("application_name", applicationName),
            ("connect_timeout", String(max(2, Int(connectTimeout.seconds.rounded(.up))))),
            ("client_encoding", "UTF8"),
            // A half-open connection (the server host vanished, a network partition) is found
            // within about 25 s instead of the kernel's two hours: idle 10 s, then 3 probes 5 s apart.
            ("keepalives", "1"), ("keepalives_idle", "10"), ("keepalives_interval", "5"), ("keepalives_count", "3"),
        ]
        if let password { pairs.append(("password", password)) }
        var settings: [String] = []
        if let statementTimeout { settings.append("statement_timeout=\(statementTimeout.wholeMilliseconds)") }
        if !searchPath.isEmpty { settings.append("search_path=\(searchPath.joined(separator: ","))") }
        if !settings.isEmpty {
            pairs.append(("options", settings.map { "-c " + Self.escapeOption($0) }.joined(separator: " ")))
        }
        return pairs.map { "\($0.0)=\(Self.quoteConninfoValue($0.1))" }.joined(separator: " ")
    }

    /// Quotes a conninfo value: `'…'` with `\` and `'` backslash-escaped.
    static func quoteConninfoValue(_ value: String) -> String {
        var quoted = "'"
        for character in value {
            if character == "\\" || character == "'" { quoted.append("\\") }
            quoted.append(character)
        }
        return quoted + "'"
    }

    /// Escapes one command-line option inside `options`: the server splits on
    /// spaces unless they are backslash-escaped.
    static func escapeOption(_ value: String) -> String {
        var escaped = ""
        for character in value {
            if character == "\\" || character.isWhitespace { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }

    /// `host:port`, for log messages.
    public var endpoint: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The URL form without the password.
    public var description: String {
        let secret = password == nil ? "" : ":***"
        return "postgresql://\(user)\(secret)@\(endpoint)/\(database) (application \(applicationName))"
    }
}
