import ArgumentParser
import Foundation
import PPFBus
import PPFRuntime
import PPFWorkflows

/// The root command.
struct PPF: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ppf",
        abstract: "PPF — Predictive Pruning Framework: prune LLMs with learned, non-uniform policies.",
        discussion: """
            Settings shared with the services can be given as flags anywhere on the line or as \
            environment variables: --kafka-brokers (PPF_KAFKA_BROKERS), --postgres-url \
            (PPF_POSTGRES_URL), --log-level (PPF_LOG_LEVEL), --blas-threads (PPF_BLAS_THREADS), \
            --model-dir (PPF_MODEL_DIR), --corpus-dir (PPF_CORPUS_DIR). `make up` starts the local \
            stack they default to.
            """,
        subcommands: [Inspect.self, Eval.self, Generate.self, Prune.self, Agent.self, Bench.self, Plot.self, Ratio.self,
                      Infer.self, Watch.self, Status.self, History.self, Report.self, Bootstrap.self, PredictorGroup.self, Predict.self]
    )
}

/// The settings PPFRuntime read before argument parsing.
enum CommandLineSettings {
    nonisolated(unsafe) static var current = Settings.defaults(serviceName: "ppf")
}

/// A failure to show the user as one clear line, with exit status 1: the
/// workflows' own error, so a command and the workflow it runs fail alike.
typealias UserFacingError = WorkflowError

/// Parses `arguments` and runs the chosen command, async commands included.
/// (Calling `PPF.main(_:)` from top-level code picks ArgumentParser's
/// synchronous entry point, which cannot run async subcommands.)
func runCommandLine(_ arguments: [String]) async {
    let failure: (any Error)?
    do {
        var command = try PPF.parseAsRoot(arguments)
        if var asyncCommand = command as? any AsyncParsableCommand {
            try await asyncCommand.run()
        } else {
            try command.run()
        }
        failure = nil
    } catch {
        failure = error
    }
    // A command's Kafka clients die with its context when `run` returns, but
    // librdkafka stops its threads asynchronously; exiting before they have
    // crashed `ppf bootstrap` now and then with SIGSEGV (issue 11).
    if await !KafkaLibrary.waitUntilAllClientsAreDestroyed() {
        FileHandle.standardError.write(Data("ppf: Kafka clients still open at exit\n".utf8))
    }
    if let failure { PPF.exit(withError: failure) }
}
