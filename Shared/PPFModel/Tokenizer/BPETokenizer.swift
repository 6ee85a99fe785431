// MARK: - BPETokenizer

/// GPT-2-style byte-level BPE (`tokenizer.ggml.model = "gpt2"`), matching
/// llama.cpp's `llm_tokenizer_bpe` token for token.
///
/// Encoding: (1) split out special tokens (user-defined always; control
/// tokens only with ``TokenizerOptions/parseSpecial``), longest first;
/// (2) pre-tokenize each remaining stretch (``PreTokenizer``); (3) map each
/// piece's UTF-8 bytes to the byte-level alphabet and merge adjacent symbols
/// by merge rank, lowest rank first and leftmost first among equals;
/// (4) emit each final symbol's id. Work is done on integer symbol ids, and
/// repeated pieces are looked up in a per-call cache.
public struct BPETokenizer: Tokenizer {
    /// One applicable merge: the rank (its position in `tokenizer.ggml.merges`) and the merged symbol.
    struct Merge: Sendable {
        var rank: Int32
        var result: Int32
    }

    /// A special token to split out of the text before pre-tokenization.
    struct SpecialPattern: Sendable {
        var bytes: [UInt8]
        var id: Int32
        var isControl: Bool
    }

    private let tokens: [String]
    private let types: [TokenType]
    /// Symbol ids at or above the vocabulary size stand for merge parts or
    /// results missing from the vocabulary; their byte-level text is kept here.
    private let extraSymbols: [String]
    private let byteSymbol: [Int32]
    private let merges: [UInt64: Merge]
    private let asciiTokens: [Int32]
    private let pieceBytes: [UInt8]
    private let pieceOffsets: [Int]
    private let specialPatterns: [SpecialPattern]
    let preTokenizer: PreTokenizer

    /// BOS/EOS/UNK/PAD ids and the BOS/EOS defaults.
    public let specialTokens: SpecialTokens
    /// Number of tokens in the vocabulary.
    public var vocabularySize: Int { tokens.count }

    // MARK: - Construction

    /// Builds the tokenizer from a vocabulary.
    /// - Parameters:
    ///   - tokens: token texts in byte-level form, index = id.
    ///   - types: one type per token (`nil`: all normal).
    ///   - merges: merge rules `"left right"`, highest priority first.
    ///   - preTokenizer: the `tokenizer.ggml.pre` value, e.g. `"smollm"`.
    public init(tokens: [String], types: [TokenType]? = nil, merges: [String], preTokenizer: String,
                specialTokens: SpecialTokens = SpecialTokens()) throws {
        guard !tokens.isEmpty, tokens.count < Int(Int32.max) else {
            throw ModelError(.invalidMetadata, "the vocabulary has \(tokens.count) tokens")
        }
        guard let pre = PreTokenizer(ggmlPre: preTokenizer) else {
            throw ModelError(.unsupportedTokenizer, "pre-tokenizer '\(preTokenizer)' is not implemented; supported: gpt-2 style and smollm/starcoder style")
        }
        let types = types ?? Array(repeating: .normal, count: tokens.count)
        guard types.count == tokens.count else {
            throw ModelError(.invalidMetadata, "tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens")
        }
        for (name, id) in [("bos", specialTokens.bos), ("eos", specialTokens.eos), ("unknown", specialTokens.unknown), ("padding", specialTokens.padding)] {
            if let id, !(0..<Int32(tokens.count)).contains(id) {
                throw ModelError(.invalidMetadata, "the \(name) token id \(id) is outside the vocabulary of \(tokens.count)")
            }
        }
        self.tokens = tokens
        self.types = types
        self.preTokenizer = pre
        self.specialTokens = specialTokens

        // Text → id; as in llama.cpp a repeated text maps to its last id.
        var idForText: [String: Int32] = [:]
        idForText.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() { idForText[t] = Int32(i) }

        var extra: [String] = []
        var extraIndex: [String: Int32] = [:]
        func symbol(_ text: String) -> Int32 {
            if let id = idForText[text] { return id }
            if let id = extraIndex[text] { return id }
            let id = Int32(tokens.count + extra.count)
            extra.append(text)
            extraIndex[text] = id
            return id
        }

        self.byteSymbol = ByteLevelAlphabet.scalarForByte.map { symbol(String($0)) }

        var table: [UInt64: Merge] = [:]
        table.reserveCapacity(merges.count)
        for (rank, rule) in merges.enumerated() {
            // llama.cpp splits at the first space after the first character.
            let chars = Array(rule)
            guard chars.count >= 3, let space = chars[1...].firstIndex(of: " ") else {
                throw ModelError(.invalidMetadata, "merge #\(rank) '\(rule)' is not two symbols separated by a space")
            }
            let left = String(chars[..<space]), right = String(chars[(space + 1)...])
            let key = Self.key(symbol(left), symbol(right))
            // The first occurrence of a pair keeps its rank (llama.cpp uses emplace).
            if table[key] == nil { table[key] = Merge(rank: Int32(rank), result: symbol(left + right)) }
        }
        self.merges = table
        self.extraSymbols = extra
        self.asciiTokens = (0..<128).map { idForText[String(UnicodeScalar(UInt8($0)))] ?? -1 }

        // Decoded bytes of every token, flat, for allocation-free decoding.
        var bytes: [UInt8] = []
        var offsets = [0]
        offsets.reserveCapacity(tokens.count + 1)
        for (t, type) in zip(tokens, types) {
            switch type {
            case .normal, .byte, .undefined: bytes += ByteLevelAlphabet.decode(t)
            default: bytes += Array(t.utf8)
            }
            offsets.append(bytes.count)
        }
        self.pieceBytes = bytes
        self.pieceOffsets = offsets

        // Longest first, as llama.cpp's cache_special_tokens; equal lengths by id.
        self.specialPatterns = tokens.indices
            .filter { [.control, .userDefined, .unknown].contains(types[$0]) && !tokens[$0].isEmpty }
            .map { SpecialPattern(bytes: Array(tokens[$0].utf8), id: Int32($0), isControl: types[$0] != .userDefined) }
            .sorted { ($0.bytes.count, -$0.id) > ($1.bytes.count, -$1.id) }
    }

    @inline(__always)
    static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    // MARK: - Tokenizer

    /// The token's byte-level text, e.g. `"Ġthe"`.
    public func tokenText(_ id: Int32) -> String? {
        tokens.indices.contains(Int(id)) ? tokens[Int(id)] : nil
    }

    /// The token's type from `tokenizer.ggml.token_type`.
    public func tokenType(_ id: Int32) -> TokenType? {
        types.indices.contains(Int(id)) ? types[Int(id)] : nil
    }

    /// The bytes of token `id`: byte-level text mapped back to bytes; control
    /// tokens only with `includeSpecial`; user-defined tokens as written.
    public func decodeToken(_ id: Int32, includeSpecial: Bool) -> [UInt8] {
        let i = Int(id)
        guard tokens.indices.contains(i) else { return [] }
        switch types[i] {
        case .control, .unknown, .unused:
            guard includeSpecial else { return [] }
        default:
            break
        }
        return Array(pieceBytes[pieceOffsets[i]..<pieceOffsets[i + 1]])
    }

    /// The token ids of `text`, as llama.cpp's `llama_tokenize` produces them.
    public func encode(_ text: String, options: TokenizerOptions) -> [Int32] {
        var output: [Int32] = []
        output.reserveCapacity(text.utf8.count / 3 + 2)
        if options.addBOS ?? specialTokens.addBOS, let bos = specialTokens.bos { output.append(bos) }

        let bytes = Array(text.utf8)
        var session = Session(tokenizer: self)
        for fragment in fragments(of: bytes, parseSpecial: options.parseSpecial) {
            switch fragment {
            case .special(let id): output.append(id)
            case .text(let range): session.encodeText(bytes, range, into: &output)
            }
        }

        if options.addEOS ?? specialTokens.addEOS, let eos = specialTokens.eos { output.append(eos) }
        return output
    }

    // MARK: - Special-token partition

    enum Fragment {
        case text(Range<Int>)
        case special(Int32)
    }

    /// Splits `bytes` at occurrences of special tokens, longest token first,
    /// leftmost occurrence first (llama.cpp `tokenizer_st_partition`).
    func fragments(of bytes: [UInt8], parseSpecial: Bool) -> [Fragment] {
        var fragments: [Fragment] = [.text(0..<bytes.count)]
        for pattern in specialPatterns where parseSpecial || !pattern.isControl {
            var next: [Fragment] = []
            next.reserveCapacity(fragments.count)
            for fragment in fragments {
                guard case .text(let range) = fragment else { next.append(fragment); continue }
                var start = range.lowerBound
                var i = range.lowerBound
                let needle = pattern.bytes
                while i + needle.count <= range.upperBound {
                    if bytes[i] == needle[0], bytes[i..<(i + needle.count)].elementsEqual(needle) {
                        if start < i { next.append(.text(start..<i)) }
                        next.append(.special(pattern.id))
                        i += needle.count
                        start = i
                    } else {
                        i += 1
                    }
                }
                if start < range.upperBound { next.append(.text(start..<range.upperBound)) }
            }
            fragments = next
        }
        return fragments.filter {
            if case .text(let r) = $0 { return !r.isEmpty }
            return true
        }
    }

    // MARK: - Encoding session

    /// Scratch state for one `encode` call: the piece cache and the BPE work buffers.
    struct Session {
        let tokenizer: BPETokenizer
        var cache: [ArraySlice<UInt8>: [Int32]] = [:]
        var symbols: [Int32] = []
        var next: [Int32] = []
        var prev: [Int32] = []
        var heap = MergeHeap()

        init(tokenizer: BPETokenizer) { self.tokenizer = tokenizer }

        /// Pre-tokenizes `bytes[range]` (valid UTF-8) and appends the ids of every piece.
        mutating func encodeText(_ bytes: [UInt8], _ range: Range<Int>, into output: inout [Int32]) {
            // Decode scalars and remember where each starts, to cut pieces out of `bytes`.
            var scalars: [UInt32] = []
            var starts: [Int] = []
            scalars.reserveCapacity(range.count)
            starts.reserveCapacity(range.count + 1)
            var i = range.lowerBound
            while i < range.upperBound {
                let b0 = UInt32(bytes[i])
                starts.append(i)
                var value: UInt32, length: Int
                if b0 < 0x80 { value = b0; length = 1 }
                else if b0 < 0xE0 { value = b0 & 0x1F; length = 2 }
                else if b0 < 0xF0 { value = b0 & 0x0F; length = 3 }
                else { value = b0 & 0x07; length = 4 }
                length = min(length, range.upperBound - i)
                for k in 1..<max(length, 1) { value = value << 6 | (UInt32(bytes[i + k]) & 0x3F) }
                scalars.append(value)
                i += length
            }
            starts.append(range.upperBound)

            for piece in tokenizer.preTokenizer.split(scalars) {
                let word = bytes[starts[piece.lowerBound]..<starts[piece.upperBound]]
                if let ids = cache[word] {
                    output += ids
                    continue
                }
                let ids = bpe(word)
                if cache.count < 1 << 16 { cache[word] = ids }
                output += ids
            }
        }

        /// Merges the byte symbols of `word` and returns its token ids.
        mutating func bpe(_ word: ArraySlice<UInt8>) -> [Int32] {
            let t = tokenizer
            symbols.removeAll(keepingCapacity: true)
            for b in word { symbols.append(t.byteSymbol[Int(b)]) }
            let n = symbols.count
            if n > 1 {
                next.removeAll(keepingCapacity: true)
                prev.removeAll(keepingCapacity: true)
                for k in 0..<n {
                    prev.append(Int32(k - 1))
                    next.append(k + 1 < n ? Int32(k + 1) : -1)
                }
                heap.removeAll()
                for k in 0..<(n - 1) { push(Int32(k), Int32(k + 1)) }
                while let top = heap.pop() {
                    let l = Int(top.left), r = Int(top.right)
                    // Skip candidates made stale by an earlier merge.
                    guard symbols[l] == top.leftSymbol, symbols[r] == top.rightSymbol, next[l] == top.right else { continue }
                    symbols[l] = top.result
                    symbols[r] = -1
                    next[l] = next[r]
                    if next[r] >= 0 { prev[Int(next[r])] = top.left }
                    if prev[l] >= 0 { push(prev[l], top.left) }
                    if next[l] >= 0 { push(top.left, next[l]) }
                }
            }
            var ids: [Int32] = []
            var k: Int32 = 0
            while k >= 0 {
                let s = symbols[Int(k)]
                if Int(s) < t.tokens.count {
                    ids.append(s)
                } else {
                    // A symbol outside the vocabulary: llama.cpp emits the
                    // single-byte tokens of its text, which only ASCII bytes have.
                    for byte in t.extraSymbols[Int(s) - t.tokens.count].utf8 where byte < 0x80 {
                        let id = t.asciiTokens[Int(byte)]
                        if id >= 0 { ids.append(id) }
                    }
                }
                k = n > 1 ? next[Int(k)] : -1
            }
            return ids
        }

        private mutating func push(_ left: Int32, _ right: Int32) {
            let ls = symbols[Int(left)], rs = symbols[Int(right)]
            guard let merge = tokenizer.merges[BPETokenizer.key(ls, rs)] else { return }
            heap.push(MergeCandidate(rank: merge.rank, left: left, right: right,
                                     leftSymbol: ls, rightSymbol: rs, result: merge.result))
        }
    }
}

// MARK: - Merge queue

/// A possible merge of two adjacent symbols.
struct MergeCandidate {
    var rank: Int32
    var left: Int32
    var right: Int32
    var leftSymbol: Int32
    var rightSymbol: Int32
    var result: Int32

    /// Lower rank first; among equal ranks the leftmost pair first.
    @inline(__always)
    func precedes(_ other: MergeCandidate) -> Bool {
        rank != other.rank ? rank < other.rank : left < other.left
    }
}

/// A binary min-heap of merge candidates.
struct MergeHeap {
    private var items: [MergeCandidate] = []

    mutating func removeAll() { items.removeAll(keepingCapacity: true) }

    mutating func push(_ item: MergeCandidate) {
        items.append(item)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].precedes(items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> MergeCandidate? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var best = i
                if l < items.count, items[l].precedes(items[best]) { best = l }
                if r < items.count, items[r].precedes(items[best]) { best = r }
                if best == i { break }
                items.swapAt(i, best)
                i = best
            }
        }
        return first
    }
}
