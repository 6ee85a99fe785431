import Foundation
import Testing
@testable import PPFModel

// MARK: - The real SmolLM2 vocabulary

/// The tokenizer of the real model, built once.
let realTokenizer: (any Tokenizer)? = RealModel.file.flatMap { try? TokenizerLoader.make(from: $0.metadata) }

@Test(.enabled(if: RealModel.isAvailable, RealModel.skipReason))
func realVocabularyLoadsWithItsSpecialTokens() throws {
    let file = try #require(RealModel.file)
    #expect(try file.metadata.string("tokenizer.ggml.model") == "gpt2")
    #expect(try file.metadata.string("tokenizer.ggml.pre") == "smollm")
    let t = try #require(realTokenizer)
    #expect(t.vocabularySize == 49152)
    #expect(t.specialTokens == SpecialTokens(bos: 1, eos: 2, unknown: 0, padding: 2, addBOS: false, addEOS: false))
    #expect(t.tokenText(1) == "<|im_start|>")
    #expect(t.tokenType(1) == .control)
    #expect(t.tokenType(500) == .normal)
}

/// Ids produced by Hugging Face `tokenizers` 0.23.3 from the same vocabulary
/// and merges with SmolLM2's pre-tokenizer (digits split individually, then
/// GPT-2 byte-level); 258 varied cases agreed exactly.
@Test(.enabled(if: RealModel.isAvailable, RealModel.skipReason))
func realVocabularyEncodesLikeTheReference() throws {
    let t = try #require(realTokenizer)
    #expect(t.encode("Hello world") == [19556, 905])
    #expect(t.encode("The year 2024 had 366 days; pi=3.14159.") ==
            [504, 713, 216, 34, 32, 34, 36, 761, 216, 35, 38, 38, 2009, 43, 16916, 45, 35, 30, 33, 36, 33, 37, 41, 30])
    #expect(t.encode("  leading, trailing   \n\n  and   multiple    spaces\t\ttabs \r\n") ==
            [216, 2899, 28, 35079, 333, 8866, 284, 256, 2701, 333, 5600, 197, 197, 100, 7366, 216, 2738])
    #expect(t.encode("I'm sure you're right, they'll've done it. DON'T") ==
            [57, 5248, 2090, 346, 2316, 1048, 28, 502, 3060, 3543, 2294, 357, 30, 422, 2154, 23, 68])
    #expect(t.encode("I ❤️ emoji 😀👍🏽🇫🇷 !!") ==
            [57, 4636, 247, 114, 31752, 649, 33777, 40303, 218, 10813, 235, 231, 10813, 233, 138, 10813, 225, 121, 10813, 225, 132, 5728, 17])
    #expect(t.encode("<|im_start|>user\nHi<|im_end|>") ==
            [44, 108, 306, 79, 3738, 108, 46, 4093, 198, 26843, 44, 108, 306, 79, 486, 108, 46])
}

@Test(.enabled(if: RealModel.isAvailable, RealModel.skipReason))
func realVocabularyParsesChatMarkersOnlyWhenAsked() throws {
    let t = try #require(realTokenizer)
    let chat = "<|im_start|>user\nHi<|im_end|>"
    let parsed = t.encode(chat, options: TokenizerOptions(parseSpecial: true))
    #expect(parsed.first == 1)
    #expect(parsed.last == 2)
    #expect(parsed == [1] + t.encode("user\nHi") + [2])
    #expect(t.decode(parsed) == "user\nHi")
    #expect(t.decode(parsed, includeSpecial: true) == chat)
    #expect(t.encode("Hi", options: TokenizerOptions(addBOS: true)) == [1] + t.encode("Hi"))
}

@Test(.enabled(if: RealModel.isAvailable, RealModel.skipReason))
func realVocabularyRoundTripsEveryRepresentableText() throws {
    let t = try #require(realTokenizer)
    let samples = ["emoji 😀👍🏽🇫🇷 family 👨‍👩‍👧", "日本語のテキストと中文文本，还有한국어.", "e\u{301} n\u{303} cafe\u{301}",
                   "func f() -> Int {\n\treturn 42 // answer\n}\n", "0123456789 ٣٤ ² ½", "   \n\n\t\t  \r\n ",
                   "Ελληνικά, русский, العربية, עברית, हिन्दी", String(repeating: "=", count: 500)]
    for s in samples { #expect(t.decode(t.encode(s)) == s) }
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<300 {
        let s = randomText(length: Int.random(in: 0..<80, using: &rng), using: &rng)
        guard isRepresentableBySmolLM(s) else { continue }
        #expect(t.decode(t.encode(s)) == s, "\(s.unicodeScalars.map(\.value))")
    }
}

/// SmolLM2's vocabulary lacks 21 of the 256 byte tokens: 0x04, 0x06, 0x13,
/// 0x14, 0x16, 0x1D, 0xC0, 0xC1, 0xF1, 0xF2 and 0xF5–0xFF (0xF1/0xF2 lead
/// the characters U+40000…U+BFFFF). Text containing them cannot round-trip;
/// llama.cpp drops such bytes and so do we.
func isRepresentableBySmolLM(_ s: String) -> Bool {
    let missing: Set<UInt8> = [0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, 0xC0, 0xC1, 0xF1, 0xF2]
    return s.utf8.allSatisfy { !missing.contains($0) && $0 < 0xF5 }
}

@Test(.enabled(if: RealModel.isAvailable, RealModel.skipReason))
func bytesMissingFromTheRealVocabularyAreDroppedLikeLlamaCpp() throws {
    let t = try #require(realTokenizer)
    #expect(t.decode(t.encode("a\u{4}b")) == "ab")
    #expect(t.decodeBytes(t.encode("\u{50000}")) == [0x90, 0x80, 0x80])   // the lead byte 0xF1 is lost
}
