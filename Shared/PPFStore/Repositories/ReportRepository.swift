import Foundation

// MARK: - ModelReport

/// What `ppf report` reads about one model: counts, recent ratio events,
/// measurements of agent and baseline policies, predictor versions and the
/// evaluators' throughput. Each part is read by its own ``ReportRepository`` query.
public enum ModelReport {
    /// How much the database holds for the model.
    public struct Counts: Sendable, Equatable {
        public var ratioEvents: Int
        public var answered: Int
        public var rejected: Int
        public var plans: Int
        public var measurements: Int
        public var predictorVersions: Int
        public var agentVersions: Int
        /// Dead letters of every model (a dead letter may not name one).
        public var deadLetters: Int
    }

    /// A ratio event with its prediction and a measurement of its policy.
    public struct Event: Sendable, Equatable {
        public var requestedAt: Date
        public var targetRatio: Double
        public var mode: String
        public var status: String
        public var achievedRatio: Double?
        public var predictedPerplexity: Double?
        /// The spot-check, or else the static search's verified perplexity.
        public var measuredPerplexity: Double?
        public var answerMilliseconds: Double?
    }

    /// A measured policy of the agent (`agent`) or a baseline (`baseline:<name>`).
    public struct MeasuredPolicy: Sendable, Equatable {
        public var source: String
        public var achievedRatio: Double
        public var perplexity: Double
    }

    /// A predictor version's held-out accuracy.
    public struct PredictorVersion: Sendable, Equatable {
        public var createdAt: Date
        public var sampleCount: Int
        public var heldOutCount: Int?
        public var kendallTau: Double?
        public var mape: Double?
    }

    /// One evaluator's measurements of the model.
    public struct Evaluator: Sendable, Equatable {
        public var evaluatorId: String
        public var measurements: Int
        public var meanSeconds: Double
        public var tokensPerSecond: Double?
    }
}

// MARK: - ReportRepository

/// Reads the parts of ``ModelReport``.
public enum ReportRepository {
    /// How much the database holds for `model`.
    public static func counts(modelId model: String, on connection: PGConnection) async throws -> ModelReport.Counts {
        let row = try await connection.query("""
            SELECT (SELECT count(*) FROM ratio_events WHERE model_id = \(model))::int,
                   (SELECT count(*) FROM ratio_event_outcomes WHERE model_id = \(model) AND status = 'answered')::int,
                   (SELECT count(*) FROM ratio_event_outcomes WHERE model_id = \(model) AND status = 'rejected')::int,
                   (SELECT count(*) FROM plans WHERE model_id = \(model))::int,
                   (SELECT count(*) FROM measurements WHERE model_id = \(model))::int,
                   (SELECT count(*) FROM predictor_versions WHERE model_id = \(model))::int,
                   (SELECT count(*) FROM agent_versions WHERE model_id = \(model))::int,
                   (SELECT count(*) FROM dead_letters)::int
            """).decode((Int, Int, Int, Int, Int, Int, Int, Int).self).first ?? (0, 0, 0, 0, 0, 0, 0, 0)
        return ModelReport.Counts(ratioEvents: row.0, answered: row.1, rejected: row.2, plans: row.3, measurements: row.4,
                                  predictorVersions: row.5, agentVersions: row.6, deadLetters: row.7)
    }

    /// The newest `limit` ratio events of the model, oldest first.
    public static func recentEvents(modelId model: String, limit: Int,
                                    on connection: PGConnection) async throws -> [ModelReport.Event] {
        try await connection.query("""
            SELECT requested_at, target_ratio, mode, status, achieved_ratio, predicted_perplexity,
                   coalesce(spot_check_perplexity, verified_perplexity), answer_ms::float8
              FROM ratio_event_history WHERE model_id = \(model) ORDER BY requested_at DESC LIMIT \(limit)
            """).decode((Date, Double, String, String, Double?, Double?, Double?, Double?).self).reversed().map {
            ModelReport.Event(requestedAt: $0.0, targetRatio: $0.1, mode: $0.2, status: $0.3, achievedRatio: $0.4,
                              predictedPerplexity: $0.5, measuredPerplexity: $0.6, answerMilliseconds: $0.7)
        }
    }

    /// Measurements of agent and baseline policies in the regime of the
    /// model's newest spot-check, by achieved ratio (empty without spot-checks).
    public static func agentAndBaselineMeasurements(modelId model: String,
                                                    on connection: PGConnection) async throws -> [ModelReport.MeasuredPolicy] {
        try await connection.query("""
            SELECT policy_source, achieved_ratio, perplexity FROM measurement_history
             WHERE model_id = \(model) AND (policy_source = 'agent' OR policy_source LIKE 'baseline:%')
               AND (split, token_budget, window_size) = (
                   SELECT split, token_budget, window_size FROM measurement_history
                    WHERE model_id = \(model) AND reason = 'spot-check' ORDER BY measured_at DESC LIMIT 1)
             ORDER BY achieved_ratio
            """).decode((String, Double, Double).self).map {
            ModelReport.MeasuredPolicy(source: $0.0, achievedRatio: $0.1, perplexity: $0.2)
        }
    }

    /// Every predictor version of the model, oldest first.
    public static func predictorVersions(modelId model: String,
                                         on connection: PGConnection) async throws -> [ModelReport.PredictorVersion] {
        try await connection.query("""
            SELECT created_at, sample_count, held_out_count, kendall_tau, mape FROM predictor_versions
             WHERE model_id = \(model) ORDER BY created_at
            """).decode((Date, Int, Int?, Double?, Double?).self).map {
            ModelReport.PredictorVersion(createdAt: $0.0, sampleCount: $0.1, heldOutCount: $0.2, kendallTau: $0.3, mape: $0.4)
        }
    }

    /// Each evaluator's measurements of the model, by evaluator id.
    public static func evaluators(modelId model: String, on connection: PGConnection) async throws -> [ModelReport.Evaluator] {
        try await connection.query("""
            SELECT evaluator_id, count(*)::int, avg(seconds)::float8, sum(tokens_counted)::float8 / nullif(sum(seconds), 0)
              FROM measurements WHERE model_id = \(model) GROUP BY evaluator_id ORDER BY evaluator_id
            """).decode((String, Int, Double, Double?).self).map {
            ModelReport.Evaluator(evaluatorId: $0.0, measurements: $0.1, meanSeconds: $0.2, tokensPerSecond: $0.3)
        }
    }
}
