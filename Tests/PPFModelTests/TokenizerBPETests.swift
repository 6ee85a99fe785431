import Foundation
import Testing
@testable import PPFModel

// MARK: - A tiny vocabulary built in code

/// The 256 byte-level characters (ids 0…255 in byte order) plus merged tokens and specials.
func tinyTokenizer(merges: [String], extra: [String], pre: String = "smollm") throws -> BPETokenizer {
    let bytes = (0..<256).map { String(ByteLevelAlphabet.scalarForByte[$0]) }
    let specials = ["<|end|>", "<tool>"]
    let tokens = bytes + extra + specials
    var types = [TokenType](repeating: .normal, count: tokens.count)
    types[tokens.count - 2] = .control
    types[tokens.count - 1] = .userDefined
    return try BPETokenizer(tokens: tokens, types: types, merges: merges, preTokenizer: pre,
                            specialTokens: SpecialTokens(bos: Int32(tokens.count - 2), eos: Int32(tokens.count - 2)))
}

let helloMerges = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "Ġwor l", "Ġworl d"]
let helloTokens = ["he", "ll", "hell", "hello", "Ġw", "or", "Ġwor", "Ġworl", "Ġworld"]

func id(_ text: String, in t: BPETokenizer) -> Int32 {
    (0..<Int32(t.vocabularySize)).first { t.tokenText($0) == text }!
}

func byteID(_ c: Character) -> Int32 { Int32(c.asciiValue!) }

@Test func mergesBuildWholeWords() throws {
    let t = try tinyTokenizer(merges: helloMerges, extra: helloTokens)
    #expect(t.encode("hello world") == [id("hello", in: t), id("Ġworld", in: t)])
    #expect(t.encode("hello  world") == [id("hello", in: t), byteID(" "), id("Ġworld", in: t)])
    #expect(t.encode("help") == [id("he", in: t), byteID("l"), byteID("p")])
    #expect(t.encode("") == [])
}

@Test func lowerRankMergesWinOverEarlierPositions() throws {
    // "b c" outranks "a b", so "abc" becomes a + bc although "ab" is further left.
    let t = try tinyTokenizer(merges: ["b c", "a b"], extra: ["bc", "ab"])
    #expect(t.encode("abc") == [byteID("a"), id("bc", in: t)])
    let swapped = try tinyTokenizer(merges: ["a b", "b c"], extra: ["ab", "bc"])
    #expect(swapped.encode("abc") == [id("ab", in: swapped), byteID("c")])
}

@Test func equalRankMergesGoLeftmostFirst() throws {
    let t = try tinyTokenizer(merges: ["a a"], extra: ["aa"])
    #expect(t.encode("aaa") == [id("aa", in: t), byteID("a")])
    #expect(t.encode("aaaa") == [id("aa", in: t), id("aa", in: t)])
}

@Test func mergeResultsMissingFromTheVocabularyFallBackToBytes() throws {
    // "x y" merges to "xy", which is not a token; llama.cpp then emits the bytes.
    let t = try tinyTokenizer(merges: ["x y", "xy z"], extra: ["xyz"])
    #expect(t.encode("xyz") == [id("xyz", in: t)])
    #expect(t.encode("xy") == [byteID("x"), byteID("y")])
}

@Test func digitsAreEncodedOneByOne() throws {
    let t = try tinyTokenizer(merges: ["1 2"], extra: ["12"])
    #expect(t.encode("12") == [byteID("1"), byteID("2")])
    let gpt2 = try tinyTokenizer(merges: ["1 2"], extra: ["12"], pre: "gpt-2")
    #expect(gpt2.encode("12") == [id("12", in: gpt2)])
}

@Test func controlTokensAreTextUnlessParsingSpecialsButUserTokensAlwaysCount() throws {
    let t = try tinyTokenizer(merges: helloMerges, extra: helloTokens)
    let end = id("<|end|>", in: t), tool = id("<tool>", in: t)
    let plain = t.encode("hello<|end|>")
    #expect(!plain.contains(end))
    #expect(t.decode(plain) == "hello<|end|>")
    #expect(t.encode("hello<|end|>", options: TokenizerOptions(parseSpecial: true)) == [id("hello", in: t), end])
    #expect(t.encode("<tool>hello") == [tool, id("hello", in: t)])
    #expect(t.decode([end, id("hello", in: t)]) == "hello")
    #expect(t.decode([end, id("hello", in: t)], includeSpecial: true) == "<|end|>hello")
}

@Test func bosAndEosFollowTheOptions() throws {
    let t = try tinyTokenizer(merges: helloMerges, extra: helloTokens)
    let bos = t.specialTokens.bos!
    #expect(t.encode("hello").first != bos)
    #expect(t.encode("hello", options: TokenizerOptions(addBOS: true)).first == bos)
    #expect(t.encode("hello", options: TokenizerOptions(addBOS: true, addEOS: true)).count == 3)
}

@Test func decodeReversesEncodeForAnyTextWhenEveryByteHasAToken() throws {
    let t = try tinyTokenizer(merges: helloMerges, extra: helloTokens)
    let samples = ["hello world", "  leading and trailing  ", "tabs\tand\nnewlines\r\n\n", "emoji 😀👍🏽🇫🇷",
                   "日本語のテキスト", "e\u{301} combining", "code: let x = [1, 2, 3] // ok", "1234567890",
                   "\u{0}\u{1F}\u{7F}\u{A0}\u{AD}", "mixed ٣² digits", ""]
    for s in samples { #expect(t.decode(t.encode(s)) == s) }
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<300 {
        let s = randomText(length: Int.random(in: 0..<60, using: &rng), using: &rng)
        #expect(t.decode(t.encode(s)) == s, "\(Array(s.unicodeScalars))")
    }
}

/// Random text drawn from every Unicode plane, biased towards spaces, digits and ASCII.
func randomText(length: Int, using rng: inout some RandomNumberGenerator) -> String {
    var s = String.UnicodeScalarView()
    while s.count < length {
        let v: UInt32 = switch Int.random(in: 0..<6, using: &rng) {
        case 0: [0x20, 0x0A, 0x09, 0x20, 0x27].randomElement(using: &rng)!
        case 1: UInt32.random(in: 0x30...0x39, using: &rng)
        case 2: UInt32.random(in: 0x00...0x7F, using: &rng)
        case 3: UInt32.random(in: 0x80...0x7FF, using: &rng)
        case 4: UInt32.random(in: 0x800...0xFFFF, using: &rng)
        default: UInt32.random(in: 0x10000...0x10FFFF, using: &rng)
        }
        if let scalar = Unicode.Scalar(v) { s.append(scalar) }
    }
    return String(s)
}

@Test func streamingDecoderNeverSplitsACharacter() throws {
    let t = try tinyTokenizer(merges: [], extra: [])
    let text = "a€😀b"
    let ids = t.encode(text)
    #expect(ids.count == text.utf8.count)   // one token per byte without merges
    var decoder = TokenStreamDecoder()
    var chunks: [String] = []
    for i in ids { chunks.append(decoder.append(i, from: t)) }
    chunks.append(decoder.finish())
    #expect(chunks.joined() == text)
    #expect(!chunks.contains { $0.contains("\u{FFFD}") })
    #expect(chunks.filter { !$0.isEmpty } == ["a", "€", "😀", "b"])
}

@Test func malformedVocabulariesAreNamedErrors() {
    expectModelError(.invalidMetadata) { _ = try BPETokenizer(tokens: ["a", "b"], merges: ["ab"], preTokenizer: "gpt-2") }
    expectModelError(.invalidMetadata) { _ = try BPETokenizer(tokens: ["a"], types: [.normal, .normal], merges: [], preTokenizer: "gpt-2") }
    expectModelError(.invalidMetadata) {
        _ = try BPETokenizer(tokens: ["a"], merges: [], preTokenizer: "gpt-2", specialTokens: SpecialTokens(bos: 5))
    }
    expectModelError(.unsupportedTokenizer) { _ = try BPETokenizer(tokens: ["a"], merges: [], preTokenizer: "qwen2") }
    var m = GGUFMetadata()
    m["tokenizer.ggml.model"] = .string("llama")
    expectModelError(.unsupportedTokenizer) { _ = try TokenizerLoader.make(from: m) }
}

@Test func singleTokensDecodeToTheirBytes() throws {
    let t = try tinyTokenizer(merges: helloMerges, extra: helloTokens)
    #expect(t.decodeToken(id("Ġworld", in: t)) == Array(" world".utf8))
    #expect(t.decodeToken(id("<|end|>", in: t)) == [])
    #expect(t.decodeToken(id("<|end|>", in: t), includeSpecial: true) == Array("<|end|>".utf8))
    #expect(t.decodeToken(-1) == [])
    #expect(t.decodeToken(Int32(t.vocabularySize)) == [])
}
