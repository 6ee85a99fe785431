import Foundation
import PPFContracts
import Testing

/// The dead-letter record keeps the original bytes exactly.
@Suite struct DeadLetterTests {
    private let time = Date(timeIntervalSince1970: 1_764_000_000.25)

    @Test func utf8ValueIsKeptAsText() throws {
        let letter = DeadLetter(originalTopic: "ppf.plans", partition: 2, offset: 41, key: Array("model-1".utf8),
                                value: Array("{not json".utf8), reason: "malformed message: x",
                                consumerGroup: "pruner", time: time)
        #expect(letter.value == "{not json")
        #expect(letter.valueEncoding == .utf8)
        #expect(letter.key == "model-1")
        #expect(letter.valueBytes == Array("{not json".utf8))
    }

    @Test func invalidUtf8ValueIsKeptAsBase64AndRoundTrips() {
        let raw: [UInt8] = [0xff, 0xfe, 0x00, 0x41]
        let letter = DeadLetter(originalTopic: "t", partition: 0, offset: 0, key: nil, value: raw,
                                reason: "r", consumerGroup: "g", time: time)
        #expect(letter.valueEncoding == .base64)
        #expect(letter.value == "//4AQQ==")
        #expect(letter.valueBytes == raw)
        #expect(letter.key == nil)
        #expect(letter.keyBytes == nil)
    }

    @Test func envelopeOfDeadLetterEncodesToStableJSONAndDecodesBack() throws {
        let letter = DeadLetter(originalTopic: "ppf.ratio-events", partition: 1, offset: 7, key: Array("m".utf8),
                                value: Array("{}".utf8), reason: "unsupported schema version 9",
                                consumerGroup: "agent", time: time)
        let envelope = Envelope(correlationId: UUID(uuidString: "00000000-0000-0000-0000-000000000001")!,
                                producer: "agent/test", payload: letter,
                                messageId: UUID(uuidString: "00000000-0000-0000-0000-000000000002")!, time: time)
        let json = String(decoding: try envelope.encoded(), as: UTF8.self)
        #expect(json == """
            {"correlationId":"00000000-0000-0000-0000-000000000001","messageId":"00000000-0000-0000-0000-000000000002",\
            "payload":{"consumerGroup":"agent","key":"m","keyEncoding":"utf8","offset":7,"originalTopic":"ppf.ratio-events",\
            "partition":1,"reason":"unsupported schema version 9","time":"2025-11-24T16:00:00.250Z","value":"{}",\
            "valueEncoding":"utf8"},"producer":"agent/test","schemaVersion":1,"time":"2025-11-24T16:00:00.250Z",\
            "type":"dead-letter"}
            """)
        let decoded = try Envelope<DeadLetter>.decode(try envelope.encoded())
        #expect(decoded.payload == letter)
    }

    @Test func aLargeValueKeepsItsHeadLengthAndHashAndFitsTheBroker() throws {
        // 800 KB of 0xFF: base64 alone would pass the broker's 1 MB limit.
        let raw = [UInt8](repeating: 0xff, count: 800_000)
        let letter = DeadLetter(originalTopic: "ppf.ratio-events", partition: 0, offset: 3, key: Array("m".utf8),
                                value: raw, reason: "malformed message: not JSON", consumerGroup: "agent", time: time)
        #expect(letter.valueBytes == Array(raw.prefix(DeadLetter.maximumValueBytes)))
        #expect(letter.originalValueLength == 800_000)
        var digest = SHA256()
        digest.update(raw)
        #expect(letter.originalValueSHA256 == digest.hexDigest())
        #expect(letter.reason.hasPrefix("malformed message: not JSON (payload truncated to its first 65536 of 800000 bytes"))
        let encoded = try Envelope(correlationId: UUID(), producer: "agent/test", payload: letter).encoded()
        #expect(encoded.count < 200_000, "the letter fits the broker's message limit")
        #expect(try Envelope<DeadLetter>.decode(encoded).payload == letter)
    }

    @Test func controlCharactersCannotInflateALetterPastItsBound() throws {
        // Each NUL is written as \u0000 (6 bytes) in JSON.
        let raw = [UInt8](repeating: 0, count: 1_000_000)
        let letter = DeadLetter(originalTopic: "t", partition: 0, offset: 0, key: nil, value: raw,
                                reason: String(repeating: "r", count: 100_000), consumerGroup: "g", time: time)
        let encoded = try Envelope(correlationId: UUID(), producer: "t", payload: letter).encoded()
        #expect(encoded.count < 6 * DeadLetter.maximumValueBytes + 2 * DeadLetter.maximumReasonCharacters + 4096)
        #expect(letter.reason.count < DeadLetter.maximumReasonCharacters + 200)
    }

    @Test func aSmallLetterHasNoTruncationFields() {
        let letter = DeadLetter(originalTopic: "t", partition: 0, offset: 0, key: nil, value: Array("{}".utf8),
                                reason: "r", consumerGroup: "g", time: time)
        #expect(letter.originalValueLength == nil && letter.originalValueSHA256 == nil && letter.reason == "r")
    }
}
