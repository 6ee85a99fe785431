import Foundation
import Testing
@testable import PPFModel

// MARK: - Shared test support for the GGUF and tokenizer tests

/// The real SmolLM2 checkpoint provisioned by `make setup`, if present.
enum RealModel {
    /// `<package root>/.deps/models/SmolLM2-135M-Instruct.Q4_1.gguf`, found from this file's path.
    static let url: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()   // PPFModelTests
        .deletingLastPathComponent()   // Tests
        .deletingLastPathComponent()   // package root
        .appendingPathComponent(".deps/models/SmolLM2-135M-Instruct.Q4_1.gguf")

    static var isAvailable: Bool { FileManager.default.fileExists(atPath: url.path) }

    static let skipReason: Comment = "skipped: the real model is absent at .deps/models/SmolLM2-135M-Instruct.Q4_1.gguf (run make setup)"

    /// The opened file, shared by every test that needs it (opening maps 98 MB).
    static let file: GGUFFile? = try? GGUFFile.open(url)
}

/// A fresh directory under the system temporary directory, removed by the caller.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-gguf-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Runs `body` with a temporary directory that is deleted afterwards.
func withTemporaryDirectory<R>(_ body: (URL) throws -> R) throws -> R {
    let dir = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    return try body(dir)
}

/// Expects `body` to throw a ``ModelError`` with `code`.
func expectModelError(_ code: ModelError.Code, sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected ModelError.\(code), but nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as ModelError {
        #expect(error.code == code, "got \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected ModelError.\(code), got \(error)", sourceLocation: sourceLocation)
    }
}

/// Little-endian byte building for hand-made blocks and files.
struct Bytes {
    var data: [UInt8] = []
    mutating func u8(_ v: UInt8) { data.append(v) }
    mutating func i8(_ v: Int8) { data.append(UInt8(bitPattern: v)) }
    mutating func u16(_ v: UInt16) { data += [UInt8(v & 0xFF), UInt8(v >> 8)] }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { data.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
    mutating func u64(_ v: UInt64) { for i in 0..<8 { data.append(UInt8((v >> (8 * UInt64(i))) & 0xFF)) } }
    /// A binary16 value that is exactly representable (the tests use such values).
    mutating func f16(_ v: Float) { u16(HalfPrecision.half(from: v)) }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); data += Array(s.utf8) }
}
