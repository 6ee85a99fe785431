import Foundation
import Logging

/// Connects to PostgreSQL, waiting for it to come up.
///
/// Each failed attempt is logged with the reason and the next wait, e.g.
/// `PostgreSQL at 127.0.0.1:55432 is not accepting connections (…); retrying in 0.4 s (attempt 3)`,
/// and the waits follow ``PostgresConfiguration/connectRetry``. Wrong
/// credentials are not retried: waiting cannot fix them.
/// - Throws: ``StoreError`` `authenticationFailed` at once; the last
///   `connectionFailure` when the policy's attempts run out;
///   `CancellationError` if the task is cancelled while waiting.
public func connectWithRetry(_ configuration: PostgresConfiguration, logger: Logger) async throws -> PGConnection {
    var attempt = 0
    while true {
        attempt += 1
        do {
            let connection = try await PGConnection.connect(configuration, logger: logger)
            if attempt > 1 {
                logger.info("connected to PostgreSQL at \(configuration.endpoint) after \(attempt) attempts")
            }
            return connection
        } catch let error as StoreError where error.isRetriable {
            guard let delay = configuration.connectRetry.delay(afterFailedAttempt: attempt) else {
                logger.error("PostgreSQL at \(configuration.endpoint) is not accepting connections; giving up after \(attempt) attempts")
                throw error
            }
            logger.warning("""
                PostgreSQL at \(configuration.endpoint) is not accepting connections \
                (\(connectionFailureReason(error))); retrying in \(formatSeconds(delay)) (attempt \(attempt))
                """)
            try await Task.sleep(for: delay)
        }
    }
}

/// The first line of libpq's message, without the "cannot connect …:" prefix we add.
func connectionFailureReason(_ error: StoreError) -> String {
    var reason = error.message
    if let colon = reason.range(of: ": ", options: []), reason.hasPrefix("cannot connect") {
        reason = String(reason[colon.upperBound...])
    }
    return reason.split(separator: "\n").first.map(String.init) ?? reason
}

/// `0.4 s`, `1.6 s`, `5 s`: one decimal, trailing zero dropped.
func formatSeconds(_ duration: Duration) -> String {
    let tenths = (duration.seconds * 10).rounded()
    return tenths.truncatingRemainder(dividingBy: 10) == 0
        ? "\(Int(tenths / 10)) s" : "\(tenths / 10) s"
}
