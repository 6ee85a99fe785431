/// A small deflate compressor: one block with the fixed Huffman codes of RFC 1951 §3.2.6 and
/// matches only at the previous pixel and the pixel above. Charts are mostly flat colour, so
/// those two distances alone shrink them 20–50×, with no hash tables or dynamic codes.
enum FixedHuffmanDeflate {
    // MARK: - Tables (RFC 1951 §3.2.5)

    static let lengthBase: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                                    35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
                                     3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distanceBase: [Int] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385,
                                      513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let distanceExtra: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7,
                                       8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    // MARK: - Compression

    /// The raw deflate data (no zlib wrapper) for `data`, trying back-references at `distances`.
    static func compress(_ data: [UInt8], distances: [Int]) -> [UInt8] {
        var writer = BitWriter()
        writer.write(1, bits: 1)  // BFINAL
        writer.write(1, bits: 2)  // BTYPE = 01, fixed Huffman
        let candidates = distances.filter { $0 >= 1 && $0 <= 32_768 }
        var position = 0
        while position < data.count {
            var bestLength = 0, bestDistance = 0
            for distance in candidates where distance <= position {
                let limit = min(258, data.count - position)
                var length = 0
                while length < limit && data[position + length] == data[position + length - distance] { length += 1 }
                if length > bestLength { (bestLength, bestDistance) = (length, distance) }
            }
            if bestLength >= 3 {
                writeMatch(length: bestLength, distance: bestDistance, to: &writer)
                position += bestLength
            } else {
                writeSymbol(Int(data[position]), to: &writer)
                position += 1
            }
        }
        writeSymbol(256, to: &writer)  // end of block
        return writer.finish()
    }

    /// A literal/length symbol in the fixed code.
    private static func writeSymbol(_ symbol: Int, to writer: inout BitWriter) {
        switch symbol {
        case 0...143: writer.writeHuffman(0x30 + symbol, length: 8)
        case 144...255: writer.writeHuffman(0x190 + symbol - 144, length: 9)
        case 256...279: writer.writeHuffman(symbol - 256, length: 7)
        default: writer.writeHuffman(0xC0 + symbol - 280, length: 8)
        }
    }

    private static func writeMatch(length: Int, distance: Int, to writer: inout BitWriter) {
        let lengthCode = (lengthBase.lastIndex { $0 <= length }) ?? 0
        writeSymbol(257 + lengthCode, to: &writer)
        writer.write(length - lengthBase[lengthCode], bits: lengthExtra[lengthCode])
        let distanceCode = (distanceBase.lastIndex { $0 <= distance }) ?? 0
        writer.writeHuffman(distanceCode, length: 5)
        writer.write(distance - distanceBase[distanceCode], bits: distanceExtra[distanceCode])
    }
}

/// Packs bits least-significant first, as deflate wants.
struct BitWriter {
    private(set) var bytes: [UInt8] = []
    private var buffer: UInt64 = 0
    private var count = 0

    /// Appends the low `bits` bits of `value`, least significant first (extra bits, headers).
    mutating func write(_ value: Int, bits: Int) {
        guard bits > 0 else { return }
        buffer |= UInt64(value & ((1 << bits) - 1)) << UInt64(count)
        count += bits
        while count >= 8 {
            bytes.append(UInt8(buffer & 0xFF))
            buffer >>= 8
            count -= 8
        }
    }

    /// Appends a Huffman code, most significant bit first (RFC 1951 §3.1.1).
    mutating func writeHuffman(_ code: Int, length: Int) {
        var reversed = 0
        for i in 0..<length where code & (1 << i) != 0 { reversed |= 1 << (length - 1 - i) }
        write(reversed, bits: length)
    }

    /// The bytes, with the last partial byte padded with zeros.
    mutating func finish() -> [UInt8] {
        if count > 0 { bytes.append(UInt8(buffer & 0xFF)) }
        buffer = 0
        count = 0
        return bytes
    }
}
