import Foundation

/// Encodes RGB8 images as PNG with no dependencies: the zlib stream holds either
/// stored (uncompressed) deflate blocks or one fixed-Huffman block.
public enum PNGEncoder {
    /// How the pixel data is deflated.
    public enum Compression: Sendable {
        /// Stored blocks: simplest, about 3 bytes per pixel.
        case stored
        /// One fixed-Huffman block with run matches against the previous pixel and row; charts
        /// come out tens of times smaller, which matters for PNGs committed to the repository.
        case fixedHuffman
    }

    // MARK: - Encoding

    /// The eight bytes every PNG file starts with.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The PNG file for `rgb`, `width × height` pixels, three bytes per pixel, rows top to bottom.
    public static func encode(width: Int, height: Int, rgb: [UInt8], compression: Compression = .fixedHuffman) throws -> [UInt8] {
        guard width > 0, height > 0, width <= 1 << 16, height <= 1 << 16 else {
            throw ReportError(.invalidSize, "an image must be 1…65536 pixels on each side, not \(width)×\(height)")
        }
        guard rgb.count == width * height * 3 else {
            throw ReportError(.invalidSize, "\(width)×\(height) RGB needs \(width * height * 3) bytes, got \(rgb.count)")
        }
        var header: [UInt8] = []
        header.appendBigEndian(UInt32(width))
        header.appendBigEndian(UInt32(height))
        header += [8, 2, 0, 0, 0]  // 8 bits per sample, truecolour, deflate, adaptive filters, no interlace

        // Each scanline starts with filter type 0 (none): the matcher below already copies
        // the pixel to the left and the row above, which is what the Sub and Up filters buy.
        let rowBytes = width * 3
        var raw = [UInt8]()
        raw.reserveCapacity(height * (rowBytes + 1))
        for row in 0..<height {
            raw.append(0)
            raw += rgb[(row * rowBytes)..<((row + 1) * rowBytes)]
        }

        var file = signature
        appendChunk("IHDR", header, to: &file)
        let stream: [UInt8]
        switch compression {
        case .stored: stream = zlibStored(raw)
        case .fixedHuffman: stream = zlibFixedHuffman(raw, distances: [3, rowBytes + 1])
        }
        appendChunk("IDAT", stream, to: &file)
        appendChunk("IEND", [], to: &file)
        return file
    }

    /// A zlib stream holding `data` in stored deflate blocks of at most 65 535 bytes.
    public static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]  // deflate, 32 KiB window, no dictionary; 0x7801 % 31 == 0
        let maxBlock = 65_535
        var start = 0
        repeat {
            let end = min(start + maxBlock, data.count)
            let length = UInt16(end - start)
            out.append(end == data.count ? 1 : 0)  // BFINAL, BTYPE = 00 (stored)
            out += [UInt8(length & 0xFF), UInt8(length >> 8)]
            out += [UInt8(~length & 0xFF), UInt8(~length >> 8)]
            out += data[start..<end]
            start = end
        } while start < data.count
        out.appendBigEndian(adler32(data))
        return out
    }

    /// A zlib stream holding `data` in one fixed-Huffman block with matches at `distances` only.
    public static func zlibFixedHuffman(_ data: [UInt8], distances: [Int]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        out += FixedHuffmanDeflate.compress(data, distances: distances)
        out.appendBigEndian(adler32(data))
        return out
    }

    // MARK: - Checksums

    /// The Adler-32 checksum zlib stores after the deflate data.
    public static func adler32(_ data: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        // 5552 is the longest run before the sums can overflow 32 bits.
        var index = 0
        while index < data.count {
            let end = min(index + 5552, data.count)
            for byte in data[index..<end] {
                a &+= UInt32(byte)
                b &+= a
            }
            a %= 65_521
            b %= 65_521
            index = end
        }
        return (b << 16) | a
    }

    /// The CRC-32 (ISO 3309, as in PNG) of `bytes`.
    public static func crc32<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc = crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        return crc ^ 0xFFFF_FFFF
    }

    private static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    // MARK: - Chunks

    private static func appendChunk(_ type: String, _ data: [UInt8], to file: inout [UInt8]) {
        file.appendBigEndian(UInt32(data.count))
        let typed = Array(type.utf8) + data
        file += typed
        file.appendBigEndian(crc32(typed))
    }
}

extension [UInt8] {
    mutating func appendBigEndian(_ value: UInt32) {
        append(contentsOf: [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)])
    }
}
