import Foundation
import Testing
@testable import PPFModel

// MARK: - Writer round trips

/// Metadata with every value kind, including nested and empty arrays.
func everyKindOfMetadata() -> GGUFMetadata {
    var m = GGUFMetadata()
    m["general.architecture"] = .string("llama")
    m["general.name"] = .string("tiny ✓ 模型 🚀")
    m["test.u8"] = .uint8(200)
    m["test.i8"] = .int8(-100)
    m["test.u16"] = .uint16(60_000)
    m["test.i16"] = .int16(-30_000)
    m["test.u32"] = .uint32(4_000_000_000)
    m["test.i32"] = .int32(-2_000_000_000)
    m["test.u64"] = .uint64(18_000_000_000_000_000_000)
    m["test.i64"] = .int64(-9_000_000_000_000_000_000)
    m["test.f32"] = .float32(1e-5)
    m["test.f64"] = .float64(-3.141592653589793)
    m["test.true"] = .bool(true)
    m["test.false"] = .bool(false)
    m["test.empty_string"] = .string("")
    m["llama.attention.head_count"] = .array(.int32([9, 6, 3, 9]))
    m["test.u8s"] = .array(.uint8([0, 1, 255]))
    m["test.i8s"] = .array(.int8([-128, 0, 127]))
    m["test.u16s"] = .array(.uint16([1, 65_535]))
    m["test.i16s"] = .array(.int16([-1, 1]))
    m["test.u32s"] = .array(.uint32([7]))
    m["test.u64s"] = .array(.uint64([1 << 40]))
    m["test.i64s"] = .array(.int64([-(1 << 40)]))
    m["test.f32s"] = .array(.float32([0.5, -0, .infinity]))
    m["test.f64s"] = .array(.float64([1e300, -1e-300]))
    m["test.bools"] = .array(.bool([true, false, true]))
    m["tokenizer.ggml.tokens"] = .array(.string(["<s>", "Ġthe", "\n", "", "🙂"]))
    m["test.empty_array"] = .array(.float32([]))
    m["test.nested"] = .array(.array([.string(["a", "bc"]), .string([]), .string(["ü"])]))
    m["test.nested_mixed"] = .array(.array([.int32([1, 2]), .float64([0.25])]))
    return m
}

@Test func writtenFileReadsBackWithIdenticalMetadataAndTensors() throws {
    try withTemporaryDirectory { dir in
        let url = dir.appendingPathComponent("round-trip.gguf")
        var writer = GGUFWriter(metadata: everyKindOfMetadata())
        let matrix = (0..<(3 * 64)).map { Float($0) * 0.25 - 7 }
        let vector = [Float](repeating: 1.5, count: 5)
        let halfExact = (0..<64).map { Float($0) / 8 - 4 }   // every value is exact in binary16
        try writer.addTensor(name: "blk.0.attn_q.weight", shape: [3, 64], values: matrix, as: .f32)
        try writer.addTensor(name: "blk.0.attn_norm.weight", shape: [5], values: vector)
        try writer.addTensor(name: "half", shape: [2, 32], values: halfExact, as: .f16)
        let q41 = [UInt8](repeating: 0x5A, count: 2 * GGMLType.q4_1.bytesPerBlock)
        try writer.addTensor(name: "raw.q4_1", dimensions: [64], type: .q4_1, rawBytes: q41)
        try writer.write(to: url)

        let file = try GGUFFile.open(url)
        #expect(file.version == 3)
        #expect(file.metadata == everyKindOfMetadata())
        #expect(file.metadata.keys == everyKindOfMetadata().keys)
        #expect(file.tensors.map(\.name) == ["blk.0.attn_q.weight", "blk.0.attn_norm.weight", "half", "raw.q4_1"])
        let q = try file.tensor(named: "blk.0.attn_q.weight")
        #expect(q.dimensions == [64, 3])
        #expect(q.shape == [3, 64])
        #expect(q.type == .f32)
        #expect(try file.dequantize(q) == matrix)
        #expect(try file.dequantize(named: "blk.0.attn_norm.weight") == vector)
        #expect(try file.dequantize(named: "half") == halfExact)
        let raw = try file.tensor(named: "raw.q4_1")
        #expect(file.rawBytes(of: raw) == q41)
        for t in file.tensors {
            #expect((file.dataOffset + t.offset) % GGUFFile.defaultAlignment == 0, "\(t.name) is misaligned")
        }
    }
}

@Test func writerHonoursACustomAlignment() throws {
    try withTemporaryDirectory { dir in
        let url = dir.appendingPathComponent("aligned.gguf")
        var m = GGUFMetadata()
        m["general.alignment"] = .uint32(256)
        var writer = GGUFWriter(metadata: m)
        try writer.addTensor(name: "a", shape: [3], values: [1, 2, 3])
        try writer.addTensor(name: "b", shape: [7], values: [Float](repeating: 4, count: 7))
        try writer.write(to: url)
        let file = try GGUFFile.open(url)
        #expect(file.alignment == 256)
        #expect(file.dataOffset % 256 == 0)
        #expect(try file.tensor(named: "b").offset == 256)
        #expect(try file.dequantize(named: "b") == [Float](repeating: 4, count: 7))
    }
}

@Test func q8_0TensorsRoundTripWithinHalfAStep() throws {
    try withTemporaryDirectory { dir in
        let url = dir.appendingPathComponent("q8.gguf")
        var rng = SystemRandomNumberGenerator()
        let values = (0..<(4 * 96)).map { _ in Float.random(in: -3...3, using: &rng) }
        var writer = GGUFWriter()
        try writer.addTensor(name: "w", shape: [4, 96], values: values, as: .q8_0)
        try writer.write(to: url)
        let file = try GGUFFile.open(url)
        let back = try file.dequantize(named: "w")
        #expect(try file.tensor(named: "w").type == .q8_0)
        for block in 0..<(values.count / 32) {
            let slice = values[(block * 32)..<(block * 32 + 32)]
            let step = slice.map(abs).max()! / 127
            for i in slice.indices {
                // d is stored as binary16, so allow its rounding on top of half a step.
                #expect(abs(back[i] - values[i]) <= step * 0.5 + abs(values[i]) * 1e-3 + 1e-6)
            }
        }
    }
}

@Test func writingReplacesAnExistingFileAndLeavesNoTemporaryFiles() throws {
    try withTemporaryDirectory { dir in
        let url = dir.appendingPathComponent("model.gguf")
        try Data("old contents".utf8).write(to: url)
        var writer = GGUFWriter()
        writer.metadata["general.name"] = .string("new")
        try writer.write(to: url)
        #expect(try GGUFFile.open(url).metadata.string("general.name") == "new")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["model.gguf"])
    }
}

@Test func aFailedWriteLeavesNoFileBehind() throws {
    try withTemporaryDirectory { dir in
        let url = dir.appendingPathComponent("model.gguf")
        var writer = GGUFWriter()
        writer.metadata["general.alignment"] = .uint32(24)   // not a power of two
        expectModelError(.invalidMetadata) { try writer.write(to: url) }
        let afterInvalid = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(afterInvalid == [])

        let missing = dir.appendingPathComponent("no-such-dir/model.gguf")
        expectModelError(.io) { try GGUFWriter().write(to: missing) }
        let afterMissing = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(afterMissing == [])
    }
}

@Test func writerRejectsBadTensors() throws {
    var writer = GGUFWriter()
    expectModelError(.shapeMismatch) { try writer.addTensor(name: "a", shape: [2, 3], values: [1, 2, 3]) }
    expectModelError(.shapeMismatch) { try writer.addTensor(name: "q", shape: [1, 40], values: [Float](repeating: 0, count: 40), as: .q8_0) }
    expectModelError(.shapeMismatch) { try writer.addTensor(name: "r", dimensions: [32], type: .q4_0, rawBytes: [0, 1]) }
    expectModelError(.unsupportedType) { try writer.addTensor(name: "k", shape: [256], values: [Float](repeating: 0, count: 256), as: .q4_K) }
    try writer.addTensor(name: "ok", shape: [2], values: [1, 2])
    expectModelError(.invalidTensor) { try writer.addTensor(name: "ok", shape: [2], values: [1, 2]) }
    #expect(writer.tensorNames == ["ok"])
}

@Test func metadataAccessorsNameTheProblem() throws {
    let m = everyKindOfMetadata()
    #expect(try m.integer("test.u32") == 4_000_000_000)
    #expect(try m.integer("test.i8") == -100)
    #expect(try m.double("test.f32") == Double(Float(1e-5)))
    #expect(try m.string("general.architecture") == "llama")
    #expect(try m.bool("test.true"))
    #expect(try m.strings("tokenizer.ggml.tokens").count == 5)
    #expect(try m.integerPerLayer("llama.attention.head_count", count: 4) == [9, 6, 3, 9])
    #expect(try m.integerPerLayer("test.u16", count: 2) == [60_000, 60_000])
    #expect(try m.integerIfPresent("absent") == nil)
    expectModelError(.missingMetadata) { _ = try m.integer("llama.block_count") }
    expectModelError(.invalidMetadata) { _ = try m.integer("general.architecture") }
    expectModelError(.invalidMetadata) { _ = try m.strings("test.u8s") }
    expectModelError(.invalidMetadata) { _ = try m.integerPerLayer("llama.attention.head_count", count: 30) }
}

@Test func metadataSubscriptReplacesInPlaceAndRemoves() {
    var m = GGUFMetadata()
    m["a"] = .uint32(1)
    m["b"] = .uint32(2)
    m["c"] = .uint32(3)
    m["a"] = .string("x")
    #expect(m.keys == ["a", "b", "c"])
    m["b"] = nil
    #expect(m.keys == ["a", "c"])
    #expect(m["c"] == .uint32(3))
    #expect(m["a"] == .string("x"))
}
