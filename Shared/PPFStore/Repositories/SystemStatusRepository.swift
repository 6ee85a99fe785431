import Foundation
import PPFContracts

// MARK: - SystemStatus

/// What `ppf status` shows from PostgreSQL: the services' heartbeats, the
/// work still owed, and what is served. Read in one pass, so the numbers
/// belong to one moment.
public struct SystemStatus: Sendable, Equatable {
    /// One instance's last heartbeat.
    public struct Instance: Sendable, Equatable {
        public var service: String
        public var instanceId: String
        public var version: String
        public var inFlight: Int
        /// Seconds since its last heartbeat.
        public var secondsSinceHeartbeat: Double
        /// Seconds since it started.
        public var uptimeSeconds: Double
        /// The BLAS it runs on, kernel and threads ("" from a build before heartbeats carried it).
        public var blas: String
    }

    /// The work each service still owes, from the system of record: a lost
    /// message shows up here, and the owning service reconciles it.
    public struct Backlog: Sendable, Equatable {
        /// Ratio events without an outcome (the agent's).
        public var unansweredRatioEvents: Int
        /// Evaluation requests without a measurement (the evaluators').
        public var unmeasuredRequests: Int
        /// Answered events without a plan (the pruner's).
        public var answersWithoutPlan: Int
    }

    /// One model-host instance's current model.
    public struct Served: Sendable, Equatable {
        public var modelId: String
        public var instanceId: String
        /// `dense` or `plan:<id>`.
        public var version: String
        public var swapNumber: Int
        /// Seconds it has been served.
        public var servedSeconds: Double
    }

    /// Every instance that ever sent a heartbeat, by service and instance.
    public var instances: [Instance]
    public var unpublishedOutboxEntries: Int
    public var deadLettersLastHour: Int
    public var ratioEvents: Int
    public var backlog: Backlog
    public var plans: Int
    /// By model and instance.
    public var serving: [Served]
}

// MARK: - SystemStatusRepository

/// Reads ``SystemStatus``.
public enum SystemStatusRepository {
    /// The status now. The database must be migrated (any service of this
    /// build starting on it migrates it).
    /// - Throws: ``StoreError`` (`undefinedTable` on a database no service has migrated).
    public static func current(on connection: PGConnection) async throws -> SystemStatus {
        let instances = try await connection.query("""
            SELECT service, instance_id, version, in_flight,
                   extract(epoch FROM now() - last_seen)::float8 AS age,
                   extract(epoch FROM now() - started_at)::float8 AS uptime,
                   coalesce(details ->> 'blas', '') AS blas
              FROM service_instances ORDER BY service, instance_id
            """).decode((String, String, String, Int32, Double, Double, String).self).map {
            SystemStatus.Instance(service: $0.0, instanceId: $0.1, version: $0.2, inFlight: Int($0.3),
                                  secondsSinceHeartbeat: $0.4, uptimeSeconds: $0.5, blas: $0.6)
        }
        let counts = try await connection.query("""
            SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL)::int,
                   (SELECT count(*) FROM dead_letters WHERE created_at > now() - interval '1 hour')::int,
                   (SELECT count(*) FROM ratio_events)::int,
                   (SELECT count(*) FROM ratio_events e
                     WHERE NOT EXISTS (SELECT 1 FROM ratio_event_outcomes o WHERE o.ratio_event_id = e.id))::int,
                   (SELECT count(*) FROM evaluation_requests r
                     WHERE NOT EXISTS (SELECT 1 FROM measurements m WHERE m.request_id = r.id))::int,
                   (SELECT count(*) FROM ratio_event_outcomes o
                     WHERE o.status = 'answered'
                       AND NOT EXISTS (SELECT 1 FROM plans p WHERE p.ratio_event_id = o.ratio_event_id))::int,
                   (SELECT count(*) FROM plans)::int
            """).decode((Int, Int, Int, Int, Int, Int, Int).self).first ?? (0, 0, 0, 0, 0, 0, 0)
        let serving = try await connection.query("""
            SELECT model_id, instance_id, version, swap_number, extract(epoch FROM now() - served_from)::float8
              FROM model_versions WHERE served_until IS NULL ORDER BY model_id, instance_id
            """).decode((String, String, String, Int32, Double).self).map {
            SystemStatus.Served(modelId: $0.0, instanceId: $0.1, version: $0.2, swapNumber: Int($0.3), servedSeconds: $0.4)
        }
        return SystemStatus(
            instances: instances, unpublishedOutboxEntries: counts.0, deadLettersLastHour: counts.1, ratioEvents: counts.2,
            backlog: .init(unansweredRatioEvents: counts.3, unmeasuredRequests: counts.4, answersWithoutPlan: counts.5),
            plans: counts.6, serving: serving)
    }
}

extension SystemStatusRepository {
    /// Upserts the instance's row in `service_instances` from `heartbeat`
    /// (`last_seen` is the database's now, so ages need no synchronised clocks).
    public static func recordHeartbeat(_ heartbeat: Heartbeat, on connection: PGConnection) async throws {
        _ = try await connection.execute(try """
            INSERT INTO service_instances (service, instance_id, version, started_at, last_seen, in_flight, details)
            VALUES (\(heartbeat.service), \(heartbeat.instanceId), \(heartbeat.version),
                    \(heartbeat.startedAt), now(), \(heartbeat.inFlight), \(SQLJSON(heartbeat.details)))
            ON CONFLICT (service, instance_id) DO UPDATE
               SET version = EXCLUDED.version, started_at = EXCLUDED.started_at, last_seen = now(),
                   in_flight = EXCLUDED.in_flight, details = EXCLUDED.details
            """)
    }

    /// Whether the database holds every table ``current(on:)`` reads
    /// (migration 5 or later: a database no service of this build has started on may not).
    public static func isMigrated(on connection: PGConnection) async throws -> Bool {
        try await connection.query("""
            SELECT to_regclass('service_instances') IS NOT NULL AND to_regclass('ratio_event_outcomes') IS NOT NULL
               AND to_regclass('plans') IS NOT NULL AND to_regclass('model_versions') IS NOT NULL
            """).decode(Bool.self).first ?? false
    }
}

extension SystemStatusRepository {
    /// What each `agent` instance alive within `aliveWithin` seconds says it
    /// serves for `modelId` (its heartbeat's `agent.<model>` detail: the agent
    /// version id, then its predictor), nil where it serves nothing yet.
    public static func agentsServing(modelId: String, aliveWithin: Double, on connection: PGConnection) async throws
        -> [(instanceId: String, served: String?)] {
        try await connection.query("""
            SELECT instance_id, details ->> ('agent.' || \(modelId))
              FROM service_instances
             WHERE service = 'agent' AND last_seen > now() - make_interval(secs => \(aliveWithin))
             ORDER BY instance_id
            """).decode((String, String?).self).map { (instanceId: $0.0, served: $0.1) }
    }
}
