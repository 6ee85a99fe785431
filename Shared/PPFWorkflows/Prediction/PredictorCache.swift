import Foundation
import PPFPredictor

/// The newest decoded predictor per model, so a prediction request costs a
/// version check, not an artifact decode.
public actor PredictorCache {
    /// A decoded version.
    public struct Entry: Sendable {
        public let versionId: UUID
        public let predictor: PerformancePredictor

        /// Creates the value from its parts.
        public init(versionId: UUID, predictor: PerformancePredictor) {
            self.versionId = versionId
            self.predictor = predictor
        }
    }

    private var entries: [String: Entry] = [:]

    /// An empty cache.
    public init() {}

    /// The cached predictor of `modelId` if it is version `versionId`.
    public func predictor(modelId: String, versionId: UUID) -> Entry? {
        guard let entry = entries[modelId], entry.versionId == versionId else { return nil }
        return entry
    }

    /// Remembers `predictor` as `modelId`'s newest version.
    public func store(modelId: String, versionId: UUID, predictor: PerformancePredictor) {
        entries[modelId] = Entry(versionId: versionId, predictor: predictor)
    }
}
