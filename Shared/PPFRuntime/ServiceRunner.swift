import Foundation
import Logging

/// A long-running piece of a PPF process (style habit 7): a consumer loop, an
/// outbox relay, a heartbeat. It runs until its task is cancelled, then
/// finishes the work in hand and returns.
public protocol PPFService: Sendable {
    /// A short name for logs.
    var name: String { get }
    /// Runs until cancelled. Returning early or throwing stops the process.
    func run() async throws
}

/// Runs services side by side and shuts them down gracefully on SIGTERM or
/// SIGINT: every service's task is cancelled, and each drains the work it has
/// in hand before `run()` returns. A service that fails stops the others.
public struct ServiceRunner: Sendable {
    let services: [any PPFService]
    let logger: Logger
    let gracePeriod: Duration

    /// Creates a runner for `services`, started in the order given.
    /// - Parameter gracePeriod: how long to wait for services to drain after a
    ///   signal before the process exits anyway (default 30 s).
    public init(services: [any PPFService], logger: Logger, gracePeriod: Duration = .seconds(30)) {
        self.services = services
        self.logger = logger
        self.gracePeriod = gracePeriod
    }

    /// Runs until a signal arrives or a service stops.
    /// - Throws: the first error a service threw (other than cancellation).
    public func run() async throws {
        let signals = SignalWatcher(signals: [SIGTERM, SIGINT])
        let logger = logger
        try await withThrowingTaskGroup(of: Void.self) { group in
            for service in services {
                group.addTask {
                    logger.info("service started", metadata: ["service": "\(service.name)"])
                    defer { logger.info("service stopped", metadata: ["service": "\(service.name)"]) }
                    try await service.run()
                }
            }
            group.addTask {
                // nil means the group was cancelled for another reason.
                guard let signal = await signals.next() else { return }
                logger.notice("received \(signal == SIGTERM ? "SIGTERM" : "SIGINT"); draining in-flight work")
                throw CancellationError()
            }
            // The first task to finish (a signal, a failure, or a service that
            // returned) stops everything.
            var failure: (any Error)?
            do {
                try await group.next()
            } catch is CancellationError {
            } catch {
                failure = error
                logger.error("service failed: \(error)")
            }
            group.cancelAll()
            let grace = gracePeriod
            let watchdog = Task.detached {
                try? await Task.sleep(for: grace)
                if !Task.isCancelled {
                    logger.critical("services did not drain within \(grace); exiting")
                    exit(1)
                }
            }
            while true {
                do { guard try await group.next() != nil else { break } } catch {}
            }
            watchdog.cancel()
            if let failure { throw failure }
        }
    }
}

/// Turns POSIX signals into an async event, using a Dispatch source so the
/// handler runs outside signal context.
final class SignalWatcher: @unchecked Sendable {
    private let queue = DispatchQueue(label: "ppf.signals")
    private var sources: [any DispatchSourceSignal] = []
    private let stream: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation

    init(signals: [Int32]) {
        (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            let continuation = continuation
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            sources.append(source)
        }
    }

    /// Waits for the next signal; nil if the waiting task is cancelled.
    func next() async -> Int32? {
        for await number in stream { return number }
        return nil
    }

    deinit {
        sources.forEach { $0.cancel() }
        continuation.finish()
    }
}
