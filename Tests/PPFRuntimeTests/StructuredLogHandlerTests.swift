import Foundation
import Logging
import Testing
@testable import PPFRuntime

@Suite struct StructuredLogHandlerTests {
    let date = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func textLinesCarrySortedMetadataAndQuoteSpaces() {
        let handler = StructuredLogHandler(label: "agent/h-1", level: .info, format: .text) { _ in }
        let line = handler.render(level: .info, message: "policy published",
                                  metadata: ["ratio": "0.35", "reason": "ratio changed"], date: date)
        #expect(line.hasSuffix("agent/h-1 policy published ratio=0.35 reason=\"ratio changed\""))
        #expect(line.hasPrefix("2027-01-15T08:00:00.000Z info"))
    }

    @Test func jsonLinesAreOneParsableObject() throws {
        let handler = StructuredLogHandler(label: "agent/h-1", level: .info, format: .json) { _ in }
        let line = handler.render(level: .warning, message: "a \"quoted\" message",
                                  metadata: ["ratio": "0.35"], date: date)
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
        #expect(object?["message"] == "a \"quoted\" message")
        #expect(object?["level"] == "warning")
        #expect(object?["ratio"] == "0.35")
        #expect(!line.contains("\n"))
    }
}
