import Foundation

// MARK: - CorpusSplit

/// The three article-disjoint splits of the prepared corpus (infra/corpus):
/// calibration activations for importance metrics, validation for measurements
/// during search, test for reported numbers.
public enum CorpusSplit: String, Sendable, Codable, CaseIterable {
    /// Calibration text (importance statistics).
    case calibration
    /// Validation text (measurements that train the predictor).
    case validation
    /// Test text (reported results).
    case test

    /// The file name, WikiText style: `wiki.<split>.raw`.
    public var fileName: String { "wiki.\(rawValue).raw" }
}

// MARK: - Corpus

/// Locates and reads raw corpus text. Any WikiText-2 raw file
/// (`wiki.test.raw`, …) is accepted as well as the prepared Wikipedia sample.
public struct Corpus: Sendable {
    /// The folder holding `wiki.<split>.raw` files.
    public let directory: URL

    /// A corpus in `directory`.
    public init(directory: URL) { self.directory = directory }

    /// The default location: `.deps/corpus` under `packageRoot`.
    public init(packageRoot: URL) {
        directory = packageRoot.appendingPathComponent(".deps/corpus", isDirectory: true)
    }

    /// The file of `split`.
    public func url(for split: CorpusSplit) -> URL { directory.appendingPathComponent(split.fileName) }

    /// The text of `split`.
    public func text(of split: CorpusSplit) throws(ModelError) -> String {
        try Self.text(at: url(for: split))
    }

    /// Reads any UTF-8 text file (a WikiText-2 raw split, for example).
    public static func text(at url: URL) throws(ModelError) -> String {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ModelError(.io, "corpus file \(url.path) does not exist; run `make setup` to prepare the corpus, or pass the path of a WikiText-2 raw file")
        }
        do {
            return try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw ModelError(.io, "cannot read corpus file \(url.path) as UTF-8: \(error.localizedDescription)")
        }
    }
}
