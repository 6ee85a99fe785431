import Foundation
import PPFContracts

/// Reads and writes `importance_profiles`, one per (model, metric).
///
/// Ownership: the evaluator stores the profile of each metric it prepares;
/// the predictor reads them when it trains.
public enum ImportanceProfileRepository {
    /// Stores `profile`, replacing an older one of the same model and metric
    /// (recalibration changes it; a version already trained keeps its own copy).
    public static func store(_ profile: ImportanceProfile, on connection: PGConnection) async throws {
        _ = try await connection.execute(try """
            INSERT INTO importance_profiles (model_id, metric, profile)
            VALUES (\(profile.modelId), \(profile.metric), \(SQLJSON(profile)))
            ON CONFLICT (model_id, metric) DO UPDATE SET profile = EXCLUDED.profile, created_at = now()
            """)
    }

    /// Every profile of `modelId`.
    public static func all(modelId: String, on connection: PGConnection) async throws -> [ImportanceProfile] {
        try await connection.query("SELECT profile FROM importance_profiles WHERE model_id = \(modelId) ORDER BY metric")
            .decode(SQLJSON<ImportanceProfile>.self).map(\.value)
    }
}
