// `ppf`: PPF's command line for people. Settings shared with the services
// (`--kafka-brokers`, `--postgres-url`, `--log-level`, … or their `PPF_*`
// environment variables) are read by PPFRuntime first; the rest is parsed here.
import ArgumentParser
@preconcurrency import Glibc
import Foundation
import PPFRuntime
import PPFWorkflows

// Line-buffered output: progress lines reach a log file or pipe as they happen.
setvbuf(stdout, nil, _IOLBF, 0)

let arguments: [String]
do {
    let loaded = try Settings.load(serviceName: "ppf")
    CommandLineSettings.current = loaded.settings
    LoggingSystemSetup.bootstrap(loaded.settings)
    arguments = loaded.remainingArguments
} catch {
    FileHandle.standardError.write(Data("ppf: \(error)\n".utf8))
    exit(2)
}
await runCommandLine(arguments)
