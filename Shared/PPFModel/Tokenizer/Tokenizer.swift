// MARK: - Tokenizer

/// Turns text into token ids and back.
///
/// Implementations are built from GGUF metadata by ``TokenizerLoader``. The
/// byte-level BPE vocabulary (`tokenizer.ggml.model = "gpt2"`) is
/// ``BPETokenizer``; a SentencePiece-style vocabulary (`"llama"`, byte
/// fallback, `▁` for spaces) would be another conforming type.
///
/// Encoding follows llama.cpp's `llama_tokenize` so ids match it exactly:
/// by default special tokens written in the text are *not* recognised
/// (`parse_special = false`) and BOS is added only when the vocabulary asks
/// for it (`tokenizer.ggml.add_bos_token`).
public protocol Tokenizer: Sendable {
    /// Number of tokens in the vocabulary.
    var vocabularySize: Int { get }

    /// BOS/EOS/UNK/PAD ids and whether BOS/EOS are added by default.
    var specialTokens: SpecialTokens { get }

    /// The token ids of `text`.
    func encode(_ text: String, options: TokenizerOptions) -> [Int32]

    /// The bytes token `id` stands for. Control tokens give no bytes unless
    /// `includeSpecial` is set; unknown ids give no bytes. A multi-byte
    /// character may be split across tokens, so stream with ``TokenStreamDecoder``.
    func decodeToken(_ id: Int32, includeSpecial: Bool) -> [UInt8]

    /// The token's text as stored in the vocabulary (e.g. `"Ġthe"`), or `nil` for an unknown id.
    func tokenText(_ id: Int32) -> String?

    /// The token's type as stored in `tokenizer.ggml.token_type`, or `nil` for an unknown id.
    func tokenType(_ id: Int32) -> TokenType?
}

extension Tokenizer {
    /// The token ids of `text` with the default options.
    public func encode(_ text: String) -> [Int32] { encode(text, options: TokenizerOptions()) }

    /// The bytes token `id` stands for, control tokens rendered as nothing.
    public func decodeToken(_ id: Int32) -> [UInt8] { decodeToken(id, includeSpecial: false) }

    /// The bytes of a token sequence.
    public func decodeBytes(_ ids: [Int32], includeSpecial: Bool = false) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids { bytes += decodeToken(id, includeSpecial: includeSpecial) }
        return bytes
    }

    /// The text of a token sequence; invalid UTF-8 (a sequence cut inside a
    /// character) becomes U+FFFD. `decode(encode(s)) == s` for every string.
    public func decode(_ ids: [Int32], includeSpecial: Bool = false) -> String {
        String(decoding: decodeBytes(ids, includeSpecial: includeSpecial), as: UTF8.self)
    }
}

// MARK: - Options and special tokens

/// How ``Tokenizer/encode(_:options:)`` treats special tokens and BOS/EOS.
public struct TokenizerOptions: Sendable, Equatable {
    /// Recognise control tokens such as `<|im_start|>` written in the text
    /// (llama.cpp's `parse_special`). Default `false`: they are tokenized as
    /// ordinary text. User-defined tokens are always recognised, as in llama.cpp.
    public var parseSpecial: Bool
    /// Prepend BOS; `nil` (default) follows `tokenizer.ggml.add_bos_token`.
    public var addBOS: Bool?
    /// Append EOS; `nil` (default) follows `tokenizer.ggml.add_eos_token`.
    public var addEOS: Bool?

    /// Creates options; the defaults match `llama_tokenize(..., add_special = true, parse_special = false)`.
    public init(parseSpecial: Bool = false, addBOS: Bool? = nil, addEOS: Bool? = nil) {
        self.parseSpecial = parseSpecial
        self.addBOS = addBOS
        self.addEOS = addEOS
    }
}

/// The ids of a vocabulary's special tokens.
public struct SpecialTokens: Sendable, Equatable {
    /// Beginning of sequence (`tokenizer.ggml.bos_token_id`).
    public var bos: Int32?
    /// End of sequence (`tokenizer.ggml.eos_token_id`).
    public var eos: Int32?
    /// Unknown token (`tokenizer.ggml.unknown_token_id`).
    public var unknown: Int32?
    /// Padding (`tokenizer.ggml.padding_token_id`).
    public var padding: Int32?
    /// Whether encoding adds BOS by default (`tokenizer.ggml.add_bos_token`).
    public var addBOS: Bool
    /// Whether encoding adds EOS by default (`tokenizer.ggml.add_eos_token`).
    public var addEOS: Bool

    /// Creates a set of special tokens.
    public init(bos: Int32? = nil, eos: Int32? = nil, unknown: Int32? = nil, padding: Int32? = nil,
                addBOS: Bool = false, addEOS: Bool = false) {
        self.bos = bos
        self.eos = eos
        self.unknown = unknown
        self.padding = padding
        self.addBOS = addBOS
        self.addEOS = addEOS
    }
}

/// A token's type (`tokenizer.ggml.token_type`, llama.cpp's `llama_token_type`).
public enum TokenType: Int32, Sendable, CaseIterable {
    case undefined = 0
    case normal = 1
    case unknown = 2
    case control = 3
    case userDefined = 4
    case unused = 5
    case byte = 6
}

// MARK: - Streaming

/// Turns a stream of token ids into text without ever splitting a
/// character: bytes of an incomplete UTF-8 sequence are held back until the
/// token that completes it arrives.
public struct TokenStreamDecoder: Sendable {
    private var pending: [UInt8] = []
    private let includeSpecial: Bool

    /// Creates a decoder; `includeSpecial` renders control tokens as their text.
    public init(includeSpecial: Bool = false) { self.includeSpecial = includeSpecial }

    /// Appends one token and returns the text it completes (possibly empty).
    public mutating func append(_ id: Int32, from tokenizer: some Tokenizer) -> String {
        pending += tokenizer.decodeToken(id, includeSpecial: includeSpecial)
        let complete = Self.completePrefixLength(pending)
        let text = String(decoding: pending[0..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Whatever is still held back (an incomplete character), as text with U+FFFD.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside a UTF-8
    /// sequence which later bytes could still complete.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        // Look back at most 3 bytes for the lead byte of an unfinished sequence.
        var i = bytes.count - 1
        var continuation = 0
        while i >= 0, continuation < 3, bytes[i] & 0xC0 == 0x80 {
            continuation += 1
            i -= 1
        }
        guard i >= 0 else { return bytes.count }
        let lead = bytes[i]
        let needed = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        return needed > continuation + 1 && lead >= 0xC0 && lead < 0xF8 ? i : bytes.count
    }
}
