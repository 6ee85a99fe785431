import Foundation
import PPFFuzzing

// `ppf-fuzz`: the GGUF and safetensors readers under a fuzzer (issue 16 §5).
//
// Normal build (`swift build --product ppf-fuzz`):
//   ppf-fuzz seeds <target> <dir>          write the seed corpus
//   ppf-fuzz replay <target> <file|dir>…   run files (a crash artifact, a corpus) through the target
//
// Fuzzing build (`make fuzz`: -sanitize=fuzzer,address -D PPF_LIBFUZZER): libFuzzer's own
// main, fuzzing the target named by PPF_FUZZ_TARGET, with libFuzzer's flags and corpus folders:
//   PPF_FUZZ_TARGET=gguf .build-fuzz/debug/ppf-fuzz -max_total_time=60 corpus/gguf
//
// Targets: gguf, safetensors (FuzzTarget).

#if PPF_LIBFUZZER

/// The target of this fuzzing process, from `PPF_FUZZ_TARGET`.
let fuzzedTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["PPF_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(Data("ppf-fuzz: set PPF_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue)), not '\(name)'\n".utf8))
        exit(2)
    }
    return target
}()

/// libFuzzer's entry point: one input through the target (a crash is the finding).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzedTarget.run(data.map { Data(bytes: $0, count: size) } ?? Data())
    return 0
}

#else

/// The `ppf-fuzz` command of the normal build: seeds and replay.
@main enum PPFFuzzCommand {
    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("ppf-fuzz: \(message)\n".utf8))
        exit(2)
    }

    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count >= 3, let target = FuzzTarget(rawValue: arguments[2]) else {
            fail("usage: ppf-fuzz seeds|replay <\(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|"))> …; fuzzing itself is `make fuzz`")
        }
        switch arguments[1] {
        case "seeds":
            guard arguments.count == 4 else { fail("usage: ppf-fuzz seeds <target> <dir>") }
            let folder = URL(fileURLWithPath: arguments[3])
            do {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                for (index, seed) in try target.seeds().enumerated() {
                    try seed.write(to: folder.appendingPathComponent("seed-\(index)"))
                }
            } catch {
                fail("cannot write the seeds: \(error)")
            }
        case "replay":
            var files: [URL] = []
            for path in arguments.dropFirst(3) {
                var isFolder: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { fail("no file or folder at \(path)") }
                let url = URL(fileURLWithPath: path)
                if isFolder.boolValue {
                    let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                    files += names.sorted().map { url.appendingPathComponent($0) }
                } else {
                    files.append(url)
                }
            }
            var accepted = 0
            for file in files {
                guard let bytes = try? Data(contentsOf: file) else { fail("cannot read \(file.path)") }
                if target.run(bytes) { accepted += 1 }
            }
            print("\(files.count) inputs: \(accepted) accepted, \(files.count - accepted) refused with a named error, none crashed")
        default:
            fail("unknown command '\(arguments[1])'; use seeds or replay (fuzzing is `make fuzz`)")
        }
    }
}

#endif
