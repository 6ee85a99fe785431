// MARK: - GPT-2 byte-level alphabet

/// GPT-2's reversible map between bytes and printable characters
/// (`bytes_to_unicode` in OpenAI's `encoder.py`): the printable bytes
/// `!`…`~`, `¡`…`¬`, `®`…`ÿ` stand for themselves and the other 68 bytes
/// (controls, space, DEL, NBSP, soft hyphen…) are shifted to U+0100 onwards
/// in byte order, so a space becomes `Ġ` (U+0120) and a newline `Ċ` (U+010A).
enum ByteLevelAlphabet {
    /// The character standing for each byte.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            let value = printable ? UInt32(byte) : next
            if !printable { next += 1 }
            // Every value is below 0x200, so the scalar always exists.
            table[byte] = Unicode.Scalar(value) ?? "\0"
        }
        return table
    }()

    /// The byte each character in U+0000…U+01FF stands for, or −1.
    static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x200)
        for (byte, scalar) in scalarForByte.enumerated() { table[Int(scalar.value)] = Int16(byte) }
        return table
    }()

    /// The byte-level string of `bytes` (what vocabulary entries look like).
    static func encode<S: Sequence<UInt8>>(_ bytes: S) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(scalarForByte[Int(b)]) }
        return String(s)
    }

    /// The bytes a byte-level string stands for; characters outside the
    /// alphabet (never produced by the encoder) are kept as their UTF-8.
    static func decode(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            let v = Int(scalar.value)
            if v < byteForScalar.count, byteForScalar[v] >= 0 {
                out.append(UInt8(byteForScalar[v]))
            } else {
                out += Array(String(scalar).utf8)
            }
        }
        return out
    }
}
