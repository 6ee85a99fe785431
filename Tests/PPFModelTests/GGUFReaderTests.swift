import Foundation
import Testing
@testable import PPFModel

// MARK: - Hand-built files

/// A minimal GGUF v3 file with one 1-D tensor, built byte by byte so each
/// field can be corrupted on purpose.
func handBuiltGGUF(magic: UInt32 = 0x4655_4747, version: UInt32 = 3, typeID: UInt32 = 0,
                   elements: UInt64 = 4, offset: UInt64 = 0, extraMetadata: [(String, UInt32, [UInt8])] = []) -> [UInt8] {
    var b = Bytes()
    b.u32(magic)
    b.u32(version)
    b.u64(1)                              // tensor count
    b.u64(UInt64(1 + extraMetadata.count)) // metadata count
    b.string("general.architecture")
    b.u32(GGUFValueType.string.rawValue)
    b.string("llama")
    for (key, type, payload) in extraMetadata {
        b.string(key)
        b.u32(type)
        b.data += payload
    }
    b.string("t")
    b.u32(1)
    b.u64(elements)
    b.u32(typeID)
    b.u64(offset)
    while b.data.count % 32 != 0 { b.u8(0) }
    for i in 0..<Int(elements) { b.u32(Float(i).bitPattern) }
    return b.data
}

func open(bytes: [UInt8], in dir: URL, name: String = "file.gguf") throws -> GGUFFile {
    let url = dir.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return try GGUFFile.open(url)
}

// MARK: - Reader errors

@Test func handBuiltFileParses() throws {
    try withTemporaryDirectory { dir in
        let file = try open(bytes: handBuiltGGUF(), in: dir)
        #expect(try file.metadata.string("general.architecture") == "llama")
        #expect(file.tensors == [GGUFTensorInfo(name: "t", dimensions: [4], type: .f32, offset: 0)])
        #expect(try file.dequantize(named: "t") == [0, 1, 2, 3])
    }
}

@Test func badMagicThrowsBadMagic() throws {
    try withTemporaryDirectory { dir in
        expectModelError(.badMagic) { _ = try open(bytes: handBuiltGGUF(magic: 0x4655_4746), in: dir) }
        expectModelError(.badMagic) { _ = try open(bytes: Array("PK\u{3}\u{4} this is a zip".utf8), in: dir) }
    }
}

@Test func unknownVersionThrowsUnsupportedVersion() throws {
    try withTemporaryDirectory { dir in
        expectModelError(.unsupportedVersion) { _ = try open(bytes: handBuiltGGUF(version: 1), in: dir) }
        expectModelError(.unsupportedVersion) { _ = try open(bytes: handBuiltGGUF(version: 4), in: dir) }
        expectModelError(.unsupportedVersion) { _ = try open(bytes: handBuiltGGUF(version: UInt32(3).byteSwapped), in: dir) }
    }
}

@Test func unknownTensorTypeThrowsUnsupportedType() throws {
    try withTemporaryDirectory { dir in
        expectModelError(.unsupportedType) { _ = try open(bytes: handBuiltGGUF(typeID: 99), in: dir) }
        expectModelError(.unsupportedType) { _ = try open(bytes: handBuiltGGUF(typeID: 4), in: dir) }  // removed Q4_2
    }
}

@Test func unknownMetadataValueTypeThrowsUnsupportedType() throws {
    try withTemporaryDirectory { dir in
        let bytes = handBuiltGGUF(extraMetadata: [("odd", 13, [0, 0, 0, 0])])
        expectModelError(.unsupportedType) { _ = try open(bytes: bytes, in: dir) }
    }
}

@Test func knownButUndecodableTypeParsesAndRefusesToDequantize() throws {
    try withTemporaryDirectory { dir in
        // 32 elements of Q5_0 occupy 22 bytes; the hand-built file has 128 data bytes.
        let file = try open(bytes: handBuiltGGUF(typeID: GGMLType.q5_0.rawValue, elements: 32), in: dir)
        #expect(file.tensors.first?.type == .q5_0)
        expectModelError(.unsupportedType) { _ = try file.dequantize(named: "t") }
    }
}

@Test func malformedTensorDescriptionsAreRejected() throws {
    try withTemporaryDirectory { dir in
        expectModelError(.invalidTensor) { _ = try open(bytes: handBuiltGGUF(offset: 4), in: dir) }
        expectModelError(.invalidTensor) { _ = try open(bytes: handBuiltGGUF(elements: 0), in: dir) }
        // Q8_0 rows must be a multiple of 32 elements.
        expectModelError(.shapeMismatch) { _ = try open(bytes: handBuiltGGUF(typeID: GGMLType.q8_0.rawValue, elements: 4), in: dir) }
        // A tensor placed far past the end of the file.
        expectModelError(.truncated) { _ = try open(bytes: handBuiltGGUF(offset: 1 << 40), in: dir) }
    }
}

@Test func invalidAlignmentAndDuplicateKeysAreRejected() throws {
    try withTemporaryDirectory { dir in
        var notPowerOfTwo = Bytes()
        notPowerOfTwo.u32(48)
        expectModelError(.invalidMetadata) {
            _ = try open(bytes: handBuiltGGUF(extraMetadata: [("general.alignment", 4, notPowerOfTwo.data)]), in: dir)
        }
        var name = Bytes()
        name.string("again")
        expectModelError(.invalidMetadata) {
            _ = try open(bytes: handBuiltGGUF(extraMetadata: [("general.architecture", 8, name.data)]), in: dir)
        }
        expectModelError(.invalidMetadata) {
            _ = try open(bytes: handBuiltGGUF(extraMetadata: [("flag", GGUFValueType.bool.rawValue, [2])]), in: dir)
        }
    }
}

@Test func absentTensorThrowsMissingTensor() throws {
    try withTemporaryDirectory { dir in
        let file = try open(bytes: handBuiltGGUF(), in: dir)
        expectModelError(.missingTensor) { _ = try file.tensor(named: "output.weight") }
        expectModelError(.shapeMismatch) { _ = try file.dequantize(try file.tensor(named: "t"), rows: 0..<2) }
    }
}

@Test func truncatedFileThrowsTruncatedAtEveryCut() throws {
    try withTemporaryDirectory { dir in
        let source = dir.appendingPathComponent("full.gguf")
        var writer = GGUFWriter(metadata: everyKindOfMetadata())
        try writer.addTensor(name: "w", shape: [2, 32], values: (0..<64).map(Float.init), as: .q8_0)
        try writer.addTensor(name: "v", shape: [3], values: [1, 2, 3])
        try writer.write(to: source)
        let bytes = try [UInt8](Data(contentsOf: source))
        let full = try GGUFFile.open(source)
        let dataEnd = full.tensors.map { full.dataOffset + $0.offset + $0.byteCount }.max()!
        #expect(dataEnd > full.dataOffset)
        // Every cut inside the header, then a spread of cuts inside the data.
        var cuts = Array(0..<full.dataOffset)
        cuts += stride(from: full.dataOffset, to: dataEnd, by: 7)
        cuts.append(dataEnd - 1)
        for cut in cuts {
            let url = dir.appendingPathComponent("cut.gguf")
            try Data(bytes[0..<cut]).write(to: url)
            do {
                _ = try GGUFFile.open(url)
                Issue.record("a file cut at byte \(cut) of \(bytes.count) opened without error")
            } catch let error as ModelError {
                #expect(error.code == .truncated, "cut at \(cut): \(error)")
            }
        }
        // Cutting only trailing padding leaves every tensor intact.
        try Data(bytes[0..<dataEnd]).write(to: dir.appendingPathComponent("trimmed.gguf"))
        #expect(try GGUFFile.open(dir.appendingPathComponent("trimmed.gguf")).dequantize(named: "v") == [1, 2, 3])
    }
}

@Test func missingFileThrowsIO() {
    expectModelError(.io) { _ = try GGUFFile.open(path: "/nonexistent/ppf/model.gguf") }
}
