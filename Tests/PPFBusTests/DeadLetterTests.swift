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
}
