// MARK: - Pre-tokenizer

/// Splits text into the pieces BPE runs on, exactly as llama.cpp does for
/// byte-level BPE vocabularies (`unicode_regex_split` in `unicode.cpp`).
///
/// Both supported styles use the GPT-2 pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;
/// the SmolLM/StarCoder style first isolates every `\p{N}` character, and the
/// GPT-2 pattern then runs inside each remaining stretch (so lookahead never
/// sees past a digit). It is written by hand over Unicode scalars: a regex
/// engine is slow here, and `\s+(?!\S)` must backtrack one character.
enum PreTokenizer: Sendable, Equatable {
    /// The GPT-2 pattern alone (`tokenizer.ggml.pre` = `gpt-2`, `mpt`, `olmo`, …).
    case gpt2
    /// Each number character alone, then the GPT-2 pattern (`smollm`, `starcoder`, …).
    case digitsThenGPT2

    /// The style llama.cpp uses for a `tokenizer.ggml.pre` value, or `nil`
    /// when that style is not implemented here.
    init?(ggmlPre: String) {
        switch ggmlPre {
        case "gpt-2", "gpt2", "mpt", "olmo", "jais", "trillion", "granite-docling": self = .gpt2
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva": self = .digitsThenGPT2
        default: return nil
        }
    }

    // MARK: Character classes

    /// Bit flags per scalar: llama.cpp's `\p{L}`, `\p{N}` and `\s` (Unicode
    /// White_Space), plus `present` to tell a real scalar from "past the end".
    struct Class: OptionSet {
        let rawValue: UInt8
        static let letter = Class(rawValue: 1)
        static let number = Class(rawValue: 2)
        static let whitespace = Class(rawValue: 4)
        static let present = Class(rawValue: 8)
    }

    static let asciiClasses: [Class] = (0..<128).map { classify(UInt32($0)) }

    static func classify(_ value: UInt32) -> Class {
        guard let scalar = Unicode.Scalar(value) else { return .present }
        var c: Class = .present
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            c.insert(.letter)
        case .decimalNumber, .letterNumber, .otherNumber:
            c.insert(.number)
        default:
            break
        }
        if scalar.properties.isWhitespace { c.insert(.whitespace) }
        return c
    }

    @inline(__always)
    static func classOf(_ value: UInt32) -> Class {
        value < 128 ? asciiClasses[Int(value)] : classify(value)
    }

    // MARK: Splitting

    /// The pieces of `scalars` as index ranges, in order, covering every scalar.
    func split(_ scalars: [UInt32]) -> [Range<Int>] {
        let classes = scalars.map(Self.classOf)
        var pieces: [Range<Int>] = []
        pieces.reserveCapacity(scalars.count / 3 + 1)
        switch self {
        case .gpt2:
            Self.splitGPT2(scalars, classes, 0..<scalars.count, into: &pieces)
        case .digitsThenGPT2:
            var start = 0
            for i in 0..<scalars.count where classes[i].contains(.number) {
                if start < i { Self.splitGPT2(scalars, classes, start..<i, into: &pieces) }
                pieces.append(i..<(i + 1))
                start = i + 1
            }
            if start < scalars.count { Self.splitGPT2(scalars, classes, start..<scalars.count, into: &pieces) }
        }
        return pieces
    }

    /// The GPT-2 pattern over `segment`; positions outside it count as absent
    /// (mirrors `unicode_regex_split_custom_gpt2`).
    static func splitGPT2(_ s: [UInt32], _ classes: [Class], _ segment: Range<Int>, into pieces: inout [Range<Int>]) {
        let end = segment.upperBound
        func cls(_ i: Int) -> Class { i < end ? classes[i] : [] }
        let apostrophe: UInt32 = 0x27, space: UInt32 = 0x20
        var pos = segment.lowerBound
        while pos < end {
            let c = s[pos]
            // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive, as in GPT-2)
            if c == apostrophe, pos + 1 < end {
                let n = s[pos + 1]
                if n == 0x73 || n == 0x74 || n == 0x6D || n == 0x64 {          // s t m d
                    pieces.append(pos..<(pos + 2)); pos += 2; continue
                }
                if pos + 2 < end {
                    let nn = s[pos + 2]
                    if (n == 0x72 && nn == 0x65) || (n == 0x76 && nn == 0x65) || (n == 0x6C && nn == 0x6C) {  // re ve ll
                        pieces.append(pos..<(pos + 3)); pos += 3; continue
                    }
                }
            }
            // An optional leading space belongs to the following word, number or symbol run.
            let lead = c == space ? cls(pos + 1) : classes[pos]
            let skip = c == space ? 1 : 0
            if lead.contains(.letter) {                                        //  ?\p{L}+
                var p = pos + skip
                while cls(p).contains(.letter) { p += 1 }
                pieces.append(pos..<p); pos = p; continue
            }
            if lead.contains(.number) {                                        //  ?\p{N}+
                var p = pos + skip
                while cls(p).contains(.number) { p += 1 }
                pieces.append(pos..<p); pos = p; continue
            }
            let word: Class = [.letter, .number, .whitespace]
            if lead.contains(.present), lead.isDisjoint(with: word) {         //  ?[^\s\p{L}\p{N}]+
                var p = pos + skip
                while cls(p).contains(.present), cls(p).isDisjoint(with: word) { p += 1 }
                pieces.append(pos..<p); pos = p; continue
            }
            var run = 0
            while cls(pos + run).contains(.whitespace) { run += 1 }
            if run > 1, pos + run < end {
                // \s+(?!\S): leave the last whitespace to prefix what follows.
                pieces.append(pos..<(pos + run - 1)); pos += run - 1; continue
            }
            if run > 0 {                                                       // \s+
                pieces.append(pos..<(pos + run)); pos += run; continue
            }
            pieces.append(pos..<(pos + 1)); pos += 1
        }
    }
}
