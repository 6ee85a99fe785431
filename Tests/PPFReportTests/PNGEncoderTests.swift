import Testing
@testable import PPFReport

/// A PNG chunk as read back from the file.
struct Chunk {
    let type: String
    let data: [UInt8]
    let storedCRC: UInt32
}

func bigEndian(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    bytes.reduce(0) { $0 << 8 | UInt32($1) }
}

/// Splits a PNG after its signature into chunks, checking every length stays in the file.
func parseChunks(_ png: [UInt8]) throws -> [Chunk] {
    var chunks: [Chunk] = []
    var offset = 8
    while offset < png.count {
        try #require(offset + 12 <= png.count)
        let length = Int(bigEndian(png[offset..<(offset + 4)]))
        try #require(offset + 12 + length <= png.count)
        let type = String(decoding: png[(offset + 4)..<(offset + 8)], as: UTF8.self)
        let data = Array(png[(offset + 8)..<(offset + 8 + length)])
        let crc = bigEndian(png[(offset + 8 + length)..<(offset + 12 + length)])
        chunks.append(Chunk(type: type, data: data, storedCRC: crc))
        offset += 12 + length
    }
    return chunks
}

/// Inflates a zlib stream made only of stored blocks, checking header, block lengths and Adler-32.
func inflateStored(_ stream: [UInt8]) throws -> [UInt8] {
    try #require(stream.count >= 6)
    #expect((UInt16(stream[0]) << 8 | UInt16(stream[1])) % 31 == 0)
    #expect(stream[0] & 0x0F == 8)
    var out: [UInt8] = []
    var offset = 2
    var final = false
    while !final {
        try #require(offset + 5 <= stream.count)
        let header = stream[offset]
        final = header & 1 == 1
        try #require(header >> 1 & 3 == 0)  // stored
        let length = Int(stream[offset + 1]) | Int(stream[offset + 2]) << 8
        let complement = Int(stream[offset + 3]) | Int(stream[offset + 4]) << 8
        #expect(length ^ complement == 0xFFFF)
        try #require(offset + 5 + length <= stream.count)
        out += stream[(offset + 5)..<(offset + 5 + length)]
        offset += 5 + length
    }
    try #require(offset + 4 == stream.count)
    #expect(bigEndian(stream[offset..<(offset + 4)]) == PNGEncoder.adler32(out))
    return out
}

@Test func checksumsMatchTheirPublishedCheckValues() {
    // The standard check values for the ASCII string "123456789" and "Wikipedia".
    #expect(PNGEncoder.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
    #expect(PNGEncoder.adler32(Array("Wikipedia".utf8)) == 0x11E6_0398)
}

@Test func encodedImageHasSignatureValidChunksAndInflatesToTheRawSize() throws {
    let width = 300, height = 250  // 225 KB raw: several stored blocks
    var rgb = [UInt8](repeating: 0, count: width * height * 3)
    for i in rgb.indices { rgb[i] = UInt8(truncatingIfNeeded: i * 7) }
    let png = try PNGEncoder.encode(width: width, height: height, rgb: rgb)

    #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    let chunks = try parseChunks(png)
    #expect(chunks.map(\.type) == ["IHDR", "IDAT", "IEND"])
    for chunk in chunks {
        #expect(PNGEncoder.crc32(Array(chunk.type.utf8) + chunk.data) == chunk.storedCRC, "CRC of \(chunk.type)")
    }
    let header = chunks[0].data
    #expect(bigEndian(header[0..<4]) == UInt32(width))
    #expect(bigEndian(header[4..<8]) == UInt32(height))
    #expect(Array(header[8...]) == [8, 2, 0, 0, 0])

    let raw = try inflateStored(chunks[1].data)
    #expect(raw.count == height * (width * 3 + 1))
    // Row 1 starts with filter 0 then the second row's pixels.
    #expect(raw[width * 3 + 1] == 0)
    #expect(Array(raw[(width * 3 + 2)..<(width * 3 + 8)]) == Array(rgb[(width * 3)..<(width * 3 + 6)]))
}

@Test func mismatchedPixelBufferThrowsInvalidSize() {
    #expect(throws: ReportError.self) { try PNGEncoder.encode(width: 2, height: 2, rgb: [0, 0, 0]) }
    #expect(throws: ReportError.self) { try PNGEncoder.encode(width: 0, height: 2, rgb: []) }
}
