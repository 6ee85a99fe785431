import Foundation
import Testing
@testable import PPFContracts

/// Golden files pin each message schema: a change that alters the JSON a
/// schema version produces breaks these tests, so it must come with a new
/// schema version.
@Suite struct GoldenMessageTests {
    static func golden(_ name: String) throws -> [UInt8] {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Golden"))
        return Array(try Data(contentsOf: url))
    }

    @Test func ratioChangeV1DecodesAndReencodesByteForByte() throws {
        let bytes = try Self.golden("ratio-change.v1")
        let envelope = try Envelope<RatioChange>.decode(bytes)
        #expect(envelope.payload.targetRatio == 0.35)
        #expect(envelope.payload.mode == .dynamic)
        #expect(envelope.producer == "ppf-cli/host-1")
        let reencoded = try envelope.encoded()
        #expect(String(decoding: reencoded, as: UTF8.self) == String(decoding: bytes, as: UTF8.self))
    }

    @Test func heartbeatV1DecodesAndReencodesByteForByte() throws {
        let bytes = try Self.golden("heartbeat.v1")
        let envelope = try Envelope<Heartbeat>.decode(bytes)
        #expect(envelope.payload.inFlight == 1)
        #expect(envelope.payload.details["model"] == "smollm2-135m")
        let reencoded = try envelope.encoded()
        #expect(String(decoding: reencoded, as: UTF8.self) == String(decoding: bytes, as: UTF8.self))
    }
}

@Suite struct EnvelopeRejectionTests {
    @Test func malformedJSONIsRejectedAsMalformed() {
        #expect(throws: EnvelopeRejection.self) { try Envelope<RatioChange>.decode(Array("{not json".utf8)) }
        do { _ = try Envelope<RatioChange>.decode(Array("{not json".utf8)) } catch {
            guard case .malformed = error else { Issue.record("expected malformed, got \(error)"); return }
        }
    }

    @Test func anUnknownSchemaVersionIsRejectedWithBothVersions() throws {
        var text = String(decoding: try GoldenMessageTests.golden("ratio-change.v1"), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"schemaVersion\":1", with: "\"schemaVersion\":7")
        do {
            _ = try Envelope<RatioChange>.decode(Array(text.utf8))
            Issue.record("expected a rejection")
        } catch {
            #expect(error == .unsupportedSchemaVersion(type: "ratio-change", version: 7, supported: 1))
            #expect(error.description.contains("7"))
        }
    }

    @Test func aMessageOfAnotherTypeIsRejected() throws {
        let bytes = try GoldenMessageTests.golden("heartbeat.v1")
        do {
            _ = try Envelope<RatioChange>.decode(bytes)
            Issue.record("expected a rejection")
        } catch {
            #expect(error == .unexpectedType(expected: "ratio-change", actual: "heartbeat"))
        }
    }

    @Test func aMissingPayloadFieldNamesTheField() throws {
        var text = String(decoding: try GoldenMessageTests.golden("ratio-change.v1"), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"mode\":\"dynamic\",", with: "")
        do {
            _ = try Envelope<RatioChange>.decode(Array(text.utf8))
            Issue.record("expected a rejection")
        } catch {
            guard case .invalidPayload(let why) = error else { Issue.record("got \(error)"); return }
            #expect(why.contains("mode"))
        }
    }

    @Test(arguments: [-0.1, 1.0, 1.5, Double.nan, Double.infinity])
    func ratiosOutsideTheUnitIntervalAreInvalid(_ ratio: Double) {
        #expect(throws: EnvelopeRejection.self) {
            try RatioChange(modelId: "m", targetRatio: ratio, mode: .dynamic, requestedBy: "t")
        }
    }

    @Test func ratiosInsideTheUnitIntervalAreAccepted() throws {
        _ = try RatioChange(modelId: "m", targetRatio: 0, mode: .static, requestedBy: "t")
        _ = try RatioChange(modelId: "m", targetRatio: 0.999, mode: .dynamic, requestedBy: "t")
    }
}
