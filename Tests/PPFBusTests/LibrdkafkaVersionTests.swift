import Testing
@testable import PPFBus

/// Version parsing and the start-up check that refuses librdkafka < 2.3.
@Suite struct LibrdkafkaVersionTests {
    @Test func packedIntegerParsesIntoMajorMinorRevision() {
        #expect(LibrdkafkaVersion(packed: 0x021000ff) == LibrdkafkaVersion(major: 2, minor: 16, revision: 0))
        #expect(LibrdkafkaVersion(packed: 0x020002ff) == LibrdkafkaVersion(major: 2, minor: 0, revision: 2))
        #expect(LibrdkafkaVersion(packed: 0x010907ff).description == "1.9.7")
    }

    @Test func versionsOrderByMajorThenMinorThenRevision() {
        #expect(LibrdkafkaVersion(major: 2, minor: 2, revision: 9) < .minimumSupported)
        #expect(LibrdkafkaVersion(major: 2, minor: 10, revision: 0) > LibrdkafkaVersion(major: 2, minor: 3, revision: 5))
        #expect(LibrdkafkaVersion(major: 3, minor: 0, revision: 0) > LibrdkafkaVersion(major: 2, minor: 99, revision: 0))
    }

    @Test func debianLibrdkafkaIsRefusedWithAnActionableMessage() {
        let error = #expect(throws: BusError.self) {
            try KafkaLibrary.check(version: LibrdkafkaVersion(packed: 0x020002ff), versionString: "2.0.2",
                                   path: "/usr/lib/x86_64-linux-gnu/librdkafka.so.1")
        }
        #expect(error?.code == .unsupportedLibrary)
        #expect(error?.message.contains("loaded librdkafka 2.0.2 from /usr/lib/x86_64-linux-gnu/librdkafka.so.1") == true)
        #expect(error?.message.contains("PPF needs ≥ 2.3.0; run make setup") == true)
    }

    @Test func minimumVersionIsAccepted() throws {
        try KafkaLibrary.check(version: .minimumSupported, versionString: "2.3.0", path: nil)
    }

    @Test func executableLoadsTheProvisionedLibrdkafkaThroughItsRpath() throws {
        // The test binary is linked against Debian's 2.0.2 but must load
        // .deps/lib/librdkafka.so.1 (2.16) through its rpath.
        #expect(KafkaLibrary.version >= .minimumSupported, "loaded \(KafkaLibrary.versionString) from \(KafkaLibrary.path ?? "?")")
        #expect(KafkaLibrary.versionString.hasPrefix("2.16"))
        #expect(KafkaLibrary.path?.hasSuffix(".deps/lib/librdkafka.so.1") == true, "loaded from \(KafkaLibrary.path ?? "?")")
        try KafkaLibrary.requireSupportedVersion()
    }
}
