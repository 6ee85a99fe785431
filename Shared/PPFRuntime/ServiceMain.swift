import Foundation
import Logging
import PPFBus
import PPFTensor

/// The whole life of a service process, so each `main.swift` stays thin:
/// start the context, run the standard services (outbox relay, heartbeats)
/// next to the service's own, drain on SIGTERM/SIGINT, flush and exit.
public enum ServiceMain {
    /// Runs service `serviceName` until a signal or a failure; exits the process.
    /// - Parameters:
    ///   - details: service-specific fields for heartbeats (e.g. the model served).
    ///   - defaultBLASThreads: OpenBLAS threads when `PPF_BLAS_THREADS` is unset
    ///     (0); `nil` keeps OpenBLAS's default of one per core. Services whose
    ///     matrices are tiny pass 1: more threads only add synchronisation.
    ///   - makeServices: the service's own long-running pieces, built once the
    ///     context (database, producer) is up.
    public static func run(
        serviceName: String,
        details: @escaping @Sendable () -> [String: String] = { [:] },
        defaultBLASThreads: Int? = nil,
        makeServices: (ServiceContext) async throws -> [any PPFService]
    ) async -> Never {
        let status = await runUntilStopped(serviceName: serviceName, details: details,
                                           defaultBLASThreads: defaultBLASThreads, makeServices: makeServices)
        // The context, its producer and every consumer are released by now;
        // exiting while librdkafka's threads still run crashes now and then.
        if await !KafkaLibrary.waitUntilAllClientsAreDestroyed() {
            FileHandle.standardError.write(Data("\(serviceName): Kafka clients still open at exit\n".utf8))
        }
        exit(status)
    }

    /// Starts the context, runs the services, shuts the context down and
    /// returns the exit status; the context goes out of scope on return.
    private static func runUntilStopped(
        serviceName: String,
        details: @escaping @Sendable () -> [String: String],
        defaultBLASThreads: Int?,
        makeServices: (ServiceContext) async throws -> [any PPFService]
    ) async -> Int32 {
        let context: ServiceContext
        do {
            context = try await ServiceContext.start(serviceName: serviceName)
        } catch {
            FileHandle.standardError.write(Data("\(serviceName): cannot start: \(error)\n".utf8))
            return 1
        }
        let logger = context.logger
        let blas = configureBLAS(requested: context.settings.blasThreads, default: defaultBLASThreads)
        // Benchmarks and timings mean little without the CPU and the kernel OpenBLAS picked for it.
        logger.info("machine: \(Machine.description)")
        let detailsWithBLAS: @Sendable () -> [String: String] = { details().merging(["blas": blas]) { own, _ in own } }
        var status: Int32 = 0
        do {
            let own = try await makeServices(context)
            logger.info("\(serviceName) \(context.settings.instanceId) ready",
                        metadata: ["services": "\(own.map(\.name))"])
            try await ServiceRunner(services: context.standardServices(details: detailsWithBLAS) + own, logger: logger).run()
        } catch {
            logger.critical("\(serviceName) stopped: \(error)")
            status = 1
        }
        await context.shutdown()
        logger.info("\(serviceName) exited")
        return status
    }

    /// Sets OpenBLAS's thread count (`requested` when positive, else
    /// `defaultThreads` when given) and returns ``BLAS/summary``, which every
    /// heartbeat carries for `ppf status`.
    static func configureBLAS(requested: Int, default defaultThreads: Int?) -> String {
        if let threads = requested > 0 ? requested : defaultThreads { BLAS.setThreadCount(threads) }
        return BLAS.summary
    }
}
