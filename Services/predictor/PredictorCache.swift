import Foundation
import PPFPredictor

/// The newest decoded predictor per model, so a prediction request costs a
/// version check, not an artifact decode.
actor PredictorCache {
    /// A decoded version.
    struct Entry: Sendable {
        let versionId: UUID
        let predictor: PerformancePredictor
    }

    private var entries: [String: Entry] = [:]

    /// The cached predictor of `modelId` if it is version `versionId`.
    func predictor(modelId: String, versionId: UUID) -> Entry? {
        guard let entry = entries[modelId], entry.versionId == versionId else { return nil }
        return entry
    }

    /// Remembers `predictor` as `modelId`'s newest version.
    func store(modelId: String, versionId: UUID, predictor: PerformancePredictor) {
        entries[modelId] = Entry(versionId: versionId, predictor: predictor)
    }
}
