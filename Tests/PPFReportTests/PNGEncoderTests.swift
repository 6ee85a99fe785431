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

/// Reads deflate bits least-significant first.
struct BitReader {
    let bytes: [UInt8]
    var position = 0  // in bits

    mutating func bits(_ n: Int) throws -> Int {
        var value = 0
        for i in 0..<n {
            try #require(position / 8 < bytes.count)
            value |= Int(bytes[position / 8] >> UInt8(position % 8) & 1) << i
            position += 1
        }
        return value
    }

    /// A Huffman code of `n` bits, most significant first.
    mutating func code(_ n: Int) throws -> Int {
        var value = 0
        for _ in 0..<n { value = value << 1 | (try bits(1)) }
        return value
    }

    mutating func alignToByte() { position = (position + 7) / 8 * 8 }
}

/// Inflates a zlib stream of stored and fixed-Huffman blocks (written here from RFC 1950/1951,
/// independently of the encoder), checking the header, stored lengths and Adler-32.
func inflate(_ stream: [UInt8]) throws -> (data: [UInt8], blockTypes: [Int]) {
    try #require(stream.count >= 6)
    #expect((UInt16(stream[0]) << 8 | UInt16(stream[1])) % 31 == 0)
    #expect(stream[0] & 0x0F == 8)
    let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    let distanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
                        1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    func lengthExtra(_ code: Int) -> Int { code < 8 || code == 28 ? 0 : code / 4 - 1 }
    func distanceExtra(_ code: Int) -> Int { code < 4 ? 0 : code / 2 - 1 }

    var reader = BitReader(bytes: Array(stream.dropFirst(2)))
    var out: [UInt8] = []
    var types: [Int] = []
    var final = false
    while !final {
        final = try reader.bits(1) == 1
        let type = try reader.bits(2)
        types.append(type)
        switch type {
        case 0:
            reader.alignToByte()
            let length = try reader.bits(16), complement = try reader.bits(16)
            #expect(length ^ complement == 0xFFFF)
            for _ in 0..<length { out.append(UInt8(try reader.bits(8))) }
        case 1:
            while true {
                var symbol: Int
                let seven = try reader.code(7)
                if seven <= 0x17 {
                    symbol = 256 + seven
                } else {
                    let eight = seven << 1 | (try reader.bits(1))
                    if (0x30...0xBF).contains(eight) { symbol = eight - 0x30 }
                    else if (0xC0...0xC7).contains(eight) { symbol = 280 + eight - 0xC0 }
                    else { symbol = 144 + (eight << 1 | (try reader.bits(1))) - 0x190 }
                }
                if symbol < 256 { out.append(UInt8(symbol)); continue }
                if symbol == 256 { break }
                let lengthCode = symbol - 257
                try #require(lengthCode < 29)
                let length = lengthBase[lengthCode] + (try reader.bits(lengthExtra(lengthCode)))
                let distanceCode = try reader.code(5)
                try #require(distanceCode < 30)
                let distance = distanceBase[distanceCode] + (try reader.bits(distanceExtra(distanceCode)))
                try #require(distance <= out.count)
                for _ in 0..<length { out.append(out[out.count - distance]) }
            }
        default:
            Issue.record("unexpected block type \(type)")
            return (out, types)
        }
    }
    reader.alignToByte()
    let end = 2 + reader.position / 8
    try #require(end + 4 == stream.count)
    #expect(bigEndian(stream[end..<(end + 4)]) == PNGEncoder.adler32(out))
    return (out, types)
}

@Test func checksumsMatchTheirPublishedCheckValues() {
    // The standard check values for the ASCII string "123456789" and "Wikipedia".
    #expect(PNGEncoder.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
    #expect(PNGEncoder.adler32(Array("Wikipedia".utf8)) == 0x11E6_0398)
}

/// A test image with flat areas (for matches) and noise (for literals of every value).
func testImage(width: Int, height: Int) -> [UInt8] {
    var rgb = [UInt8](repeating: 255, count: width * height * 3)
    for i in rgb.indices where (i / 3) % width < width / 2 { rgb[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 13) }
    return rgb
}

@Test(arguments: [PNGEncoder.Compression.stored, .fixedHuffman])
func encodedImageHasSignatureValidChunksAndInflatesToTheRawPixels(compression: PNGEncoder.Compression) throws {
    let width = 300, height = 250  // 225 KB raw: several stored blocks
    let rgb = testImage(width: width, height: height)
    let png = try PNGEncoder.encode(width: width, height: height, rgb: rgb, compression: compression)

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

    let (raw, types) = try inflate(chunks[1].data)
    #expect(raw.count == height * (width * 3 + 1))
    var expected: [UInt8] = []
    for row in 0..<height { expected += [0] + rgb[(row * width * 3)..<((row + 1) * width * 3)] }
    #expect(raw == expected)
    switch compression {
    case .stored: #expect(types == [0, 0, 0, 0])
    case .fixedHuffman:
        #expect(types == [1])
        #expect(chunks[1].data.count < raw.count * 2 / 3, "the white half should compress")
    }
}

@Test func mismatchedPixelBufferThrowsInvalidSize() {
    #expect(throws: ReportError.self) { try PNGEncoder.encode(width: 2, height: 2, rgb: [0, 0, 0]) }
    #expect(throws: ReportError.self) { try PNGEncoder.encode(width: 0, height: 2, rgb: []) }
}
