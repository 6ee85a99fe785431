import CRdKafka
import Foundation

// MARK: - LibrdkafkaVersion

/// A librdkafka version, parsed from the library's packed integer
/// `0xMMmmrrxx` (major, minor, revision, pre-release).
public struct LibrdkafkaVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Major version, e.g. 2 in 2.16.0.
    public var major: Int
    /// Minor version, e.g. 16 in 2.16.0.
    public var minor: Int
    /// Revision, e.g. 0 in 2.16.0.
    public var revision: Int

    /// Creates a version from its parts.
    public init(major: Int, minor: Int, revision: Int) {
        self.major = major
        self.minor = minor
        self.revision = revision
    }

    /// Parses librdkafka's packed integer (`rd_kafka_version()`), e.g.
    /// `0x021000ff` is 2.16.0.
    public init(packed: Int32) {
        let bits = UInt32(bitPattern: packed)
        self.init(major: Int((bits >> 24) & 0xff), minor: Int((bits >> 16) & 0xff),
                  revision: Int((bits >> 8) & 0xff))
    }

    /// The oldest librdkafka PPF accepts. 2.0.2 (Debian bookworm) cannot parse
    /// Tansu's ApiVersions v3 response (design.md, "Facts measured").
    public static let minimumSupported = LibrdkafkaVersion(major: 2, minor: 3, revision: 0)

    /// Orders by major, then minor, then revision.
    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.major, lhs.minor, lhs.revision) < (rhs.major, rhs.minor, rhs.revision)
    }

    /// `major.minor.revision`.
    public var description: String { "\(major).\(minor).\(revision)" }
}

// MARK: - KafkaLibrary

/// Facts about the librdkafka this process actually loaded (which, through
/// the rpath, is `.deps/lib/librdkafka.so.1`, not the system one we compile
/// against).
public enum KafkaLibrary {
    /// The loaded library's version string, e.g. `"2.16.0"`.
    public static var versionString: String { String(cString: rd_kafka_version_str()) }

    /// The loaded library's version, parsed from its packed integer.
    public static var version: LibrdkafkaVersion { LibrdkafkaVersion(packed: rd_kafka_version()) }

    /// The file the library was loaded from, read from the process's memory
    /// map (Linux); `nil` where that is not available.
    public static var path: String? {
        // /proc files report size 0, so read to end of file rather than by size.
        guard let file = FileHandle(forReadingAtPath: "/proc/self/maps"),
              let data = try? file.readToEnd() else { return nil }
        try? file.close()
        let maps = String(decoding: data, as: UTF8.self)
        for line in maps.split(separator: "\n") where line.contains("librdkafka") {
            if let slash = line.firstIndex(of: "/") { return String(line[slash...]) }
        }
        return nil
    }

    /// Throws unless `version` is at least ``LibrdkafkaVersion/minimumSupported``.
    /// Split from ``requireSupportedVersion()`` so the rule is testable
    /// without loading another library.
    public static func check(version: LibrdkafkaVersion, versionString: String, path: String?) throws(BusError) {
        guard version >= LibrdkafkaVersion.minimumSupported else {
            throw BusError(
                .unsupportedLibrary,
                "loaded librdkafka \(versionString) from \(path ?? "an unknown path"); "
                    + "PPF needs ≥ \(LibrdkafkaVersion.minimumSupported); run make setup "
                    + "(it provisions .deps/lib/librdkafka.so.1, which executables find through their rpath)")
        }
    }

    /// Waits up to `timeout` until every librdkafka client of this process is
    /// destroyed and librdkafka's threads have stopped (`rd_kafka_wait_destroyed`).
    ///
    /// Call it last, before the process exits: `exit` runs the libraries'
    /// destructors, and a librdkafka thread still running then (a client
    /// whose last reference went away on another thread a moment before)
    /// crashes the process with SIGSEGV now and then (issue 11).
    /// - Returns: `true` when none is left; `false` when `timeout` passed first.
    public static func waitUntilAllClientsAreDestroyed(timeout: Duration = .seconds(10)) async -> Bool {
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000
            + timeout.components.attoseconds / 1_000_000_000_000_000)
        return (try? await BlockingCalls.run { rd_kafka_wait_destroyed(milliseconds) == 0 }) ?? false
    }

    /// Checks the loaded library once per process; every client factory calls it.
    public static func requireSupportedVersion() throws(BusError) {
        if let failure = startupCheck { throw failure }
    }

    private static let startupCheck: BusError? = { () -> BusError? in
        do throws(BusError) {
            try check(version: version, versionString: versionString, path: path)
            return nil
        } catch {
            return error
        }
    }()
}
