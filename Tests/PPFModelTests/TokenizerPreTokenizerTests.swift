import Testing
@testable import PPFModel

// MARK: - Pre-tokenizer (llama.cpp's GPT-2 and SmolLM splits)

func pieces(_ text: String, _ style: PreTokenizer = .digitsThenGPT2) -> [String] {
    let scalars = text.unicodeScalars.map(\.value)
    return style.split(scalars).map { range in
        var s = String.UnicodeScalarView()
        for v in scalars[range] { s.append(Unicode.Scalar(v)!) }
        return String(s)
    }
}

@Test func wordsTakeTheirLeadingSpace() {
    #expect(pieces("Hello world") == ["Hello", " world"])
    #expect(pieces("naïve café") == ["naïve", " café"])
    #expect(pieces("日本語のテキスト") == ["日本語のテキスト"])
}

@Test func contractionsAreLowercaseOnly() {
    #expect(pieces("don't") == ["don", "'t"])
    #expect(pieces("we're I'll you've I'd I'm it's") ==
            ["we", "'re", " I", "'ll", " you", "'ve", " I", "'d", " I", "'m", " it", "'s"])
    #expect(pieces("DON'T") == ["DON", "'", "T"])
}

@Test func punctuationRunsTakeALeadingSpace() {
    #expect(pieces("foo!!bar") == ["foo", "!!", "bar"])
    #expect(pieces("a ?!") == ["a", " ?!"])
    #expect(pieces("😀😀 hi") == ["😀😀", " hi"])
    #expect(pieces("e\u{301}") == ["e", "\u{301}"])    // a combining mark is not a letter
}

@Test func whitespaceBeforeAWordLeavesItsLastCharacterToTheWord() {
    // \s+(?!\S): the run stops one short so the last space prefixes the word.
    #expect(pieces("a  b") == ["a", " ", " b"])
    #expect(pieces("a   \n b") == ["a", "   \n", " b"])
    #expect(pieces("x\n\ny") == ["x", "\n", "\n", "y"])
    #expect(pieces("\tx") == ["\t", "x"])
    #expect(pieces("a\u{A0}b") == ["a", "\u{A0}", "b"])  // NBSP is whitespace but not ' '
}

@Test func trailingWhitespaceStaysOneRun() {
    #expect(pieces("end   ") == ["end", "   "])
    #expect(pieces("end \n") == ["end", " \n"])
    #expect(pieces("   ") == ["   "])
    #expect(pieces(" ") == [" "])
    #expect(pieces("") == [])
}

@Test func smollmIsolatesEveryDigitWhileGPT2KeepsNumbersTogether() {
    #expect(pieces("price 1234") == ["price", " ", "1", "2", "3", "4"])
    #expect(pieces("price 1234", .gpt2) == ["price", " 1234"])
    #expect(pieces("abc123def") == ["abc", "1", "2", "3", "def"])
    #expect(pieces("x ٣²") == ["x", " ", "٣", "²"])           // Arabic-Indic three (Nd), superscript two (No)
    // Lookahead does not see past a digit: "  " before "1" is one whole run.
    #expect(pieces("a  1") == ["a", "  ", "1"])
    #expect(pieces("a  1", .gpt2) == ["a", " ", " 1"])
}

@Test func piecesAlwaysCoverTheTextExactly() {
    var rng = SystemRandomNumberGenerator()
    let alphabet: [Unicode.Scalar] = ["a", "Z", " ", " ", "\n", "\t", "'", "s", "1", "9", "!", ".", "é", "日", "😀", "\u{301}", "\u{A0}", "٣", "_"]
    for _ in 0..<500 {
        var s = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0..<40, using: &rng) { s.append(alphabet.randomElement(using: &rng)!) }
        let text = String(s)
        for style in [PreTokenizer.gpt2, .digitsThenGPT2] {
            let p = pieces(text, style)
            #expect(p.joined() == text)
            #expect(!p.contains(""))
        }
    }
}
