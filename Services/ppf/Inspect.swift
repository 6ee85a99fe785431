import ArgumentParser
import Foundation
import PPFModel

/// `ppf inspect <file>`: what a GGUF checkpoint holds.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a GGUF file's metadata, tensor table and parameter counts per kind.")

    @Argument(help: "The GGUF file.", completion: .file(extensions: ["gguf"]))
    var file: String

    func run() throws {
        let gguf = try GGUFFile.open(URL(fileURLWithPath: file))
        print(GGUFInspection.report(for: gguf))
    }
}
