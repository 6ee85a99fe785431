import Foundation

// MARK: - CalibrationCache

/// A folder of calibration statistics, one JSON file per
/// (model checksum, corpus checksum, spec): a second calibration is a file read.
///
/// The default folder is `.deps/cache/calibration/` under the package root
/// (git-ignored). Entries are written atomically; an unreadable or
/// outdated entry counts as a miss and is overwritten by the next store.
public struct CalibrationCache: Sendable {
    /// What identifies one set of statistics.
    public struct Key: Sendable, Hashable {
        /// SHA-256 of the model file.
        public let modelChecksum: String
        /// SHA-256 of the calibration text.
        public let corpusChecksum: String
        /// The windows run.
        public let spec: CalibrationSpec

        /// Creates a key.
        public init(modelChecksum: String, corpusChecksum: String, spec: CalibrationSpec) {
            self.modelChecksum = modelChecksum
            self.corpusChecksum = corpusChecksum
            self.spec = spec
        }

        /// The entry's file name: both checksums (16 hex digits each) and the spec label.
        public var fileName: String {
            "\(modelChecksum.prefix(16))-\(corpusChecksum.prefix(16))-\(spec.label).json"
        }
    }

    /// The folder holding the entries.
    public let directory: URL

    /// A cache in `directory` (created on the first store).
    public init(directory: URL) { self.directory = directory }

    /// The default cache, `<packageRoot>/.deps/cache/calibration/`.
    public init(packageRoot: URL) {
        directory = packageRoot.appendingPathComponent(".deps/cache/calibration", isDirectory: true)
    }

    /// The file of `key`.
    public func url(for key: Key) -> URL { directory.appendingPathComponent(key.fileName) }

    /// The cached statistics of `key`, or `nil` on a miss (absent, unreadable,
    /// another format version, or a file whose contents name another key).
    public func load(_ key: Key) -> CalibrationStatistics? {
        guard let data = try? Data(contentsOf: url(for: key)),
              let statistics = try? JSONDecoder().decode(CalibrationStatistics.self, from: data),
              statistics.formatVersion == CalibrationStatistics.currentFormatVersion,
              statistics.modelChecksum == key.modelChecksum, statistics.corpusChecksum == key.corpusChecksum,
              statistics.spec == key.spec
        else { return nil }
        return statistics
    }

    /// Writes `statistics` under its own key.
    public func store(_ statistics: CalibrationStatistics) throws(PruningError) {
        let key = Key(modelChecksum: statistics.modelChecksum, corpusChecksum: statistics.corpusChecksum, spec: statistics.spec)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try encoder.encode(statistics).write(to: url(for: key), options: .atomic)
        } catch {
            throw PruningError(.io, "cannot write the calibration cache entry \(url(for: key).path): \(error.localizedDescription)")
        }
    }
}
