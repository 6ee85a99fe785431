import Foundation
import PPFContracts

// MARK: - PredictorRegime

/// The regime a predictor version's training measurements were taken in,
/// with what the training set says about it. Predictions are only meaningful
/// in this regime, so the agent publishes policies for its metric and
/// verifies static candidates with measurements taken the same way.
/// Reads the regime's fields directly (`regime.metric`).
@dynamicMemberLookup
public struct PredictorRegime: Sendable, Equatable {
    /// The metric, split, token budget and window of the measurements.
    public var measured: MeasurementRegime
    /// Training measurements taken in this regime.
    public var measurements: Int
    /// Whether any training policy dropped a whole block (if none did, the
    /// predictor knows nothing about drops and the agent should not use them).
    public var includesBlockDrops: Bool

    /// The regime assumed for a predictor whose measurements are not stored
    /// (an artifact made elsewhere): ``MeasurementRegime/bootstrapDefault``, without block drops.
    public static let assumedForUnstoredMeasurements = PredictorRegime(
        measured: .bootstrapDefault, measurements: 0, includesBlockDrops: false)

    /// Creates a regime.
    public init(measured: MeasurementRegime, measurements: Int, includesBlockDrops: Bool) {
        self.measured = measured
        self.measurements = measurements
        self.includesBlockDrops = includesBlockDrops
    }

    /// A field of ``measured``.
    public subscript<Value>(dynamicMember field: KeyPath<MeasurementRegime, Value>) -> Value {
        measured[keyPath: field]
    }
}

extension PredictorVersionRepository {
    /// The regime most of `versionId`'s training measurements share, or nil
    /// when the version lists no measurement that is stored (an artifact made elsewhere).
    public static func regime(versionId: UUID, on connection: PGConnection) async throws -> PredictorRegime? {
        guard let row = try await connection.query("""
            SELECT r.metric, r.split, r.token_budget, r.window_size, count(*) AS n
              FROM predictor_versions v
              JOIN measurements m ON m.id = ANY(v.training_measurement_ids)
              JOIN evaluation_requests r ON r.id = m.request_id
             WHERE v.id = \(versionId)
             GROUP BY r.metric, r.split, r.token_budget, r.window_size
             ORDER BY n DESC, r.metric, r.split
             LIMIT 1
            """).first else { return nil }
        let drops = try await connection.query("""
            SELECT EXISTS (
                SELECT 1 FROM predictor_versions v
                  JOIN measurements m ON m.id = ANY(v.training_measurement_ids)
                  JOIN policies p ON p.id = m.policy_id
                 WHERE v.id = \(versionId) AND p.policy @> '{"layers": [{"dropped": true}]}'::jsonb)
            """).first?.decode(Bool.self, column: 0) ?? false
        return PredictorRegime(
            measured: MeasurementRegime(metric: try row.decode(String.self, column: 0),
                                        split: try row.decode(String.self, column: 1),
                                        tokenBudget: try row.decode(Int.self, column: 2),
                                        window: try row.decode(Int.self, column: 3)),
            measurements: try row.decode(Int.self, column: 4), includesBlockDrops: drops)
    }
}

extension MeasurementRepository {
    /// The measurements answering `requestIds` (those measured so far).
    public static func find(requestIds: [UUID], on connection: PGConnection) async throws -> [MeasurementRecord] {
        try await connection.query("""
            SELECT \(unsafeRaw: columns) FROM measurements m WHERE m.request_id = ANY(\(requestIds)) ORDER BY m.id
            """).decode(MeasurementRecord.self)
    }

    /// Whether `modelId` has any measurement (then it is a model the system knows).
    public static func exists(modelId: String, on connection: PGConnection) async throws -> Bool {
        try await connection.query("SELECT EXISTS (SELECT 1 FROM measurements WHERE model_id = \(modelId))")
            .first?.decode(Bool.self, column: 0) ?? false
    }
}

extension EvaluationRequestRepository {
    /// Requests caused by `correlationId` for `reason`, oldest first (a static
    /// search resumed after a restart finds the verifications it already asked for).
    public static func all(correlationId: UUID, reason: String, on connection: PGConnection)
        async throws -> [EvaluationRequestRecord] {
        try await connection.query("""
            SELECT \(unsafeRaw: columns) FROM evaluation_requests
             WHERE correlation_id = \(correlationId) AND reason = \(reason)
             ORDER BY created_at, id
            """).decode(EvaluationRequestRecord.self)
    }
}
