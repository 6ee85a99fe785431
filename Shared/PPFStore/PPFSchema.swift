/// PPF's database schema: the complete migration history.
///
/// To change the schema, append one ``Migration`` to ``migrations`` with the
/// next version number. Never edit one that has shipped: the ``Migrator``
/// rejects a changed checksum.
public enum PPFSchema {
    /// The notification channel the outbox trigger signals on commit.
    public static let outboxChannel = "ppf_outbox"

    /// Every migration, oldest first.
    public static let migrations: [Migration] = [
        Migration(version: 1, name: "foundation tables: outbox, inbox, dead letters, audit log", sql: """
            -- Transactional outbox (design.md, "System of record and delivery guarantees"):
            -- a row here commits with the business write; the relay publishes it and
            -- sets published_at.
            CREATE TABLE outbox (
                id           bigserial PRIMARY KEY,
                message_id   uuid NOT NULL UNIQUE,
                topic        text NOT NULL,
                key          text NOT NULL,
                payload      bytea NOT NULL,
                created_at   timestamptz NOT NULL DEFAULT now(),
                published_at timestamptz
            );
            CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

            -- Wake relays when entries commit (NOTIFY is delivered at commit only).
            CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('ppf_outbox', '');
                RETURN NULL;
            END
            $$;
            CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
                FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

            -- The inbox: one row per (consumer, message) already handled.
            CREATE TABLE processed_messages (
                consumer     text NOT NULL,
                message_id   uuid NOT NULL,
                processed_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (consumer, message_id)
            );

            -- Messages no consumer could process, with where they came from and why.
            CREATE TABLE dead_letters (
                id         bigserial PRIMARY KEY,
                topic      text NOT NULL,
                partition  integer,
                "offset"   bigint,
                key        text,
                payload    bytea NOT NULL,
                reason     text NOT NULL,
                consumer   text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            );

            -- Who asked for what, and when.
            CREATE TABLE audit_log (
                id             bigserial PRIMARY KEY,
                at             timestamptz NOT NULL DEFAULT now(),
                actor          text NOT NULL,
                action         text NOT NULL,
                correlation_id uuid,
                details        jsonb NOT NULL DEFAULT '{}'
            );
            CREATE INDEX audit_log_correlation ON audit_log (correlation_id);
            """),
        Migration(version: 2, name: "dead letters once per message, service instances, ratio events", sql: """
            -- A consumer that crashes after recording a dead letter but before
            -- committing its offset sees the message again: record it once.
            CREATE UNIQUE INDEX dead_letters_once
                ON dead_letters (consumer, topic, partition, "offset") WHERE partition IS NOT NULL;

            -- Liveness and versions of every service instance (ppf status), upserted by heartbeats.
            CREATE TABLE service_instances (
                service     text NOT NULL,
                instance_id text NOT NULL,
                version     text NOT NULL,
                started_at  timestamptz NOT NULL,
                last_seen   timestamptz NOT NULL,
                in_flight   integer NOT NULL DEFAULT 0,
                details     jsonb NOT NULL DEFAULT '{}',
                PRIMARY KEY (service, instance_id)
            );

            -- Ratio-change events: the start of every run-time flow. The id is the
            -- event's message id, which every message it causes carries as its
            -- correlation id.
            CREATE TABLE ratio_events (
                id           uuid PRIMARY KEY,
                model_id     text NOT NULL,
                target_ratio double precision NOT NULL CHECK (target_ratio >= 0 AND target_ratio < 1),
                mode         text NOT NULL CHECK (mode IN ('dynamic', 'static')),
                requested_by text NOT NULL,
                created_at   timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX ratio_events_model_time ON ratio_events (model_id, created_at);
            """),
        Migration(version: 3, name: "phase 1: policies, evaluation requests, measurements, predictor versions", sql: """
            -- Policies, once per model and canonical key (PruningPolicy.canonicalKey:
            -- ratios rounded to 4 decimals, dropped blocks marked), so the same
            -- policy proposed twice (by a baseline and the sampler, say) is one row.
            CREATE TABLE policies (
                id             uuid PRIMARY KEY,
                model_id       text NOT NULL,
                policy         jsonb NOT NULL,
                policy_key     text NOT NULL,
                layer_count    integer NOT NULL CHECK (layer_count > 0),
                source         text NOT NULL,
                target_ratio   double precision CHECK (target_ratio >= 0 AND target_ratio < 1),
                achieved_ratio double precision CHECK (achieved_ratio >= 0 AND achieved_ratio < 1),
                correlation_id uuid,
                created_at     timestamptz NOT NULL DEFAULT now(),
                UNIQUE (model_id, policy_key)
            );

            -- What was asked to be measured. Written with its outbox entry by the asker.
            CREATE TABLE evaluation_requests (
                id             uuid PRIMARY KEY,
                policy_id      uuid NOT NULL REFERENCES policies (id),
                model_id       text NOT NULL,
                metric         text NOT NULL,
                split          text NOT NULL,
                token_budget   integer NOT NULL CHECK (token_budget > 0),
                window_size    integer NOT NULL CHECK (window_size > 0),
                reason         text NOT NULL,
                correlation_id uuid NOT NULL,
                created_at     timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX evaluation_requests_policy ON evaluation_requests (policy_id);
            CREATE INDEX evaluation_requests_model_time ON evaluation_requests (model_id, created_at);

            -- Ground truth. The evaluator owns these rows: it inserts one with the
            -- Measurement's outbox entry in one transaction. UNIQUE (request_id)
            -- makes a request redone after a crash end with exactly one row.
            CREATE TABLE measurements (
                id             bigserial PRIMARY KEY,
                request_id     uuid NOT NULL UNIQUE REFERENCES evaluation_requests (id),
                policy_id      uuid NOT NULL REFERENCES policies (id),
                model_id       text NOT NULL,
                split          text NOT NULL,
                token_budget   integer NOT NULL CHECK (token_budget > 0),
                window_size    integer NOT NULL CHECK (window_size > 0),
                nll            double precision NOT NULL,
                perplexity     double precision NOT NULL CHECK (perplexity > 0),
                tokens_counted integer NOT NULL CHECK (tokens_counted > 0),
                seconds        double precision NOT NULL CHECK (seconds >= 0),
                evaluator_id   text NOT NULL,
                engine_version text NOT NULL,
                achieved_ratio double precision NOT NULL CHECK (achieved_ratio >= 0 AND achieved_ratio < 1),
                created_at     timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX measurements_model ON measurements (model_id, id);
            CREATE INDEX measurements_policy ON measurements (policy_id);

            -- Predictor versions: the PredictorArtifact JSON, which measurements
            -- trained it, and its held-out metrics as columns for reports.
            CREATE TABLE predictor_versions (
                id                       uuid PRIMARY KEY,
                model_id                 text NOT NULL,
                artifact                 bytea NOT NULL,
                sample_count             integer NOT NULL CHECK (sample_count > 0),
                training_measurement_ids bigint[] NOT NULL,
                held_out_count           integer,
                kendall_tau              double precision,
                spearman                 double precision,
                mae                      double precision,
                mape                     double precision,
                rmse_log                 double precision,
                training_seconds         double precision NOT NULL,
                correlation_id           uuid,
                created_at               timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX predictor_versions_model_time ON predictor_versions (model_id, created_at DESC);
            """),
        Migration(version: 4, name: "run time: agent versions, one outcome per ratio event", sql: """
            -- Agent versions: the AgentArtifact JSON (network, budget, configuration,
            -- training report), the predictor version it was trained against, and
            -- a summary as columns and jsonb for reports. One version per predictor
            -- version and training configuration: a redelivered predictor event
            -- or a concurrent start trains (or at least stores) it once.
            CREATE TABLE agent_versions (
                id                   uuid PRIMARY KEY,
                model_id             text NOT NULL,
                predictor_version_id uuid NOT NULL REFERENCES predictor_versions (id),
                artifact             bytea NOT NULL,
                minimum_ratio        double precision NOT NULL CHECK (minimum_ratio >= 0),
                maximum_ratio        double precision NOT NULL CHECK (maximum_ratio < 1 AND minimum_ratio < maximum_ratio),
                allows_block_drop    boolean NOT NULL,
                configuration_key    text NOT NULL,
                summary              jsonb NOT NULL,
                training_seconds     double precision NOT NULL CHECK (training_seconds >= 0),
                correlation_id       uuid,
                created_at           timestamptz NOT NULL DEFAULT now(),
                UNIQUE (predictor_version_id, configuration_key)
            );
            CREATE INDEX agent_versions_model_time ON agent_versions (model_id, created_at DESC);

            -- How each ratio event was answered: exactly one row per event (the
            -- primary key), written in the transaction that publishes the answer
            -- (PolicyPublished or RatioEventRejected) through the outbox. A ratio
            -- event without a row here is still pending; the agent answers it on start.
            CREATE TABLE ratio_event_outcomes (
                ratio_event_id               uuid PRIMARY KEY REFERENCES ratio_events (id),
                model_id                     text NOT NULL,
                status                       text NOT NULL CHECK (status IN ('answered', 'rejected')),
                reason                       text,
                message                      text,
                policy_id                    uuid REFERENCES policies (id),
                source                       text,
                metric                       text,
                agent_version_id             uuid REFERENCES agent_versions (id),
                predictor_version_id         uuid REFERENCES predictor_versions (id),
                achieved_ratio               double precision CHECK (achieved_ratio >= 0 AND achieved_ratio < 1),
                predicted_perplexity         double precision CHECK (predicted_perplexity > 0),
                predicted_log_perplexity_std double precision CHECK (predicted_log_perplexity_std >= 0),
                measured_perplexity          double precision CHECK (measured_perplexity > 0),
                verification_measurements    integer NOT NULL DEFAULT 0 CHECK (verification_measurements >= 0),
                answered_at                  timestamptz NOT NULL DEFAULT now(),
                CHECK ((status = 'answered') = (policy_id IS NOT NULL)),
                CHECK (status = 'answered' OR reason IS NOT NULL)
            );
            CREATE INDEX ratio_event_outcomes_model_time ON ratio_event_outcomes (model_id, answered_at);
            """),
        Migration(version: 5, name: "run time: plans, model versions served, inference log", sql: """
            -- Plans: a published policy turned into what each block keeps. The pruner
            -- owns these rows: it inserts one with its PlanPublished (outbox) in one
            -- transaction. UNIQUE (ratio_event_id) makes it one plan per ratio-change
            -- event, however often the policy is delivered or re-published.
            CREATE TABLE plans (
                id               uuid PRIMARY KEY,
                ratio_event_id   uuid NOT NULL UNIQUE,
                policy_id        uuid NOT NULL REFERENCES policies (id),
                model_id         text NOT NULL,
                metric           text NOT NULL,
                -- The PruningPlan exactly as PPFPruning encodes it: per block the kept KV
                -- groups (keptGroups), query heads (keptHeads) and MLP channels
                -- (keptChannels), the dense shapes, bias compensation and calibration.
                plan             jsonb NOT NULL,
                kept_parameters  bigint NOT NULL CHECK (kept_parameters >= 0),
                total_parameters bigint NOT NULL CHECK (total_parameters > 0 AND kept_parameters <= total_parameters),
                achieved_ratio   double precision NOT NULL CHECK (achieved_ratio >= 0 AND achieved_ratio < 1),
                target_ratio     double precision CHECK (target_ratio >= 0 AND target_ratio < 1),
                export_path      text,
                pruner_id        text NOT NULL,
                seconds          double precision NOT NULL CHECK (seconds >= 0),
                created_at       timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX plans_model_time ON plans (model_id, created_at DESC);
            CREATE INDEX plans_policy ON plans (policy_id);

            -- Which model version each model-host instance served, from when until when
            -- (served_until is NULL for the version serving now). version is 'dense'
            -- or the plan id, as inference replies name it.
            CREATE TABLE model_versions (
                id            bigserial PRIMARY KEY,
                model_id      text NOT NULL,
                instance_id   text NOT NULL,
                version       text NOT NULL,
                plan_id       uuid REFERENCES plans (id),
                swap_number   integer NOT NULL CHECK (swap_number >= 0),
                build_seconds double precision NOT NULL CHECK (build_seconds >= 0),
                served_from   timestamptz NOT NULL DEFAULT clock_timestamp(),
                served_until  timestamptz
            );
            CREATE INDEX model_versions_instance ON model_versions (model_id, instance_id, served_from DESC);

            -- One row per answered inference request: which version answered, what it
            -- cost. Written after the reply was acknowledged, so a request found here
            -- was answered (a redelivery is skipped).
            CREATE TABLE inference_log (
                request_id     uuid PRIMARY KEY,
                correlation_id uuid NOT NULL,
                model_id       text NOT NULL,
                instance_id    text NOT NULL,
                model_version  text NOT NULL,
                kind           text NOT NULL CHECK (kind IN ('perplexity', 'generate')),
                input_tokens   integer NOT NULL CHECK (input_tokens >= 0),
                output_tokens  integer NOT NULL CHECK (output_tokens >= 0),
                perplexity     double precision,
                error          text,
                seconds        double precision NOT NULL CHECK (seconds >= 0),
                created_at     timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX inference_log_version ON inference_log (model_id, model_version, created_at);
            """),
        Migration(version: 6, name: "importance profiles for the predictor's plan-derived features", sql: """
            -- Retained-importance curves per (model, metric), written by the
            -- evaluator from the plan builder its measurements use; the
            -- predictor embeds them in each version (ImportanceProfile).
            CREATE TABLE importance_profiles (
                model_id   text NOT NULL,
                metric     text NOT NULL,
                profile    jsonb NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (model_id, metric)
            );
            """),
        Migration(version: 7, name: "audit views: ratio event history, measurement history, served models", sql: """
            -- One row per ratio event: what was asked, how the agent answered
            -- (policy, versions, predicted and verified perplexity), the plan the
            -- pruner made, and the first spot-check measurement of the policy.
            -- `ppf history` reads it; so can anyone with psql.
            CREATE VIEW ratio_event_history AS
            SELECT e.id AS ratio_event_id, e.model_id, e.target_ratio, e.mode, e.requested_by,
                   e.created_at AS requested_at,
                   coalesce(o.status, 'pending') AS status, o.reason, o.message,
                   o.policy_id, o.source, o.metric, o.achieved_ratio,
                   o.agent_version_id, o.predictor_version_id,
                   o.predicted_perplexity, o.predicted_log_perplexity_std,
                   o.measured_perplexity AS verified_perplexity, o.verification_measurements,
                   o.answered_at, 1000 * extract(epoch FROM o.answered_at - e.created_at) AS answer_ms,
                   pl.id AS plan_id, pl.kept_parameters, pl.total_parameters, pl.created_at AS planned_at,
                   sc.perplexity AS spot_check_perplexity, sc.split AS spot_check_split,
                   sc.token_budget AS spot_check_tokens, sc.created_at AS spot_checked_at
              FROM ratio_events e
              LEFT JOIN ratio_event_outcomes o ON o.ratio_event_id = e.id
              LEFT JOIN plans pl ON pl.ratio_event_id = e.id
              LEFT JOIN LATERAL (
                  SELECT m.perplexity, m.split, m.token_budget, m.created_at
                    FROM evaluation_requests r JOIN measurements m ON m.request_id = r.id
                   WHERE r.correlation_id = e.id AND r.reason = 'spot-check'
                   ORDER BY m.id LIMIT 1) sc ON true;

            -- Every measurement with why it was asked for and what it measured.
            CREATE VIEW measurement_history AS
            SELECT m.id AS measurement_id, m.request_id, r.correlation_id, r.reason, m.model_id,
                   m.policy_id, p.source AS policy_source, r.metric, m.split, m.token_budget, m.window_size,
                   m.achieved_ratio, m.perplexity, m.nll, m.tokens_counted, m.seconds,
                   m.evaluator_id, m.engine_version, m.created_at AS measured_at
              FROM measurements m
              JOIN evaluation_requests r ON r.id = m.request_id
              JOIN policies p ON p.id = m.policy_id;

            -- Which model each model-host instance served, traced to its ratio event.
            CREATE VIEW served_models AS
            SELECT v.model_id, v.instance_id, v.version, v.swap_number, v.build_seconds,
                   v.served_from, v.served_until, pl.ratio_event_id, pl.policy_id, pl.achieved_ratio
              FROM model_versions v LEFT JOIN plans pl ON pl.id = v.plan_id;
            """),
        Migration(version: 8, name: "ratio event history: the spot-check of the answered policy only", sql: """
            -- Version 7 took the event's first spot-check measurement of any
            -- policy, so `ppf ratio set --compare`'s baseline, measured under
            -- the same event, showed as the agent's spot-check whenever an
            -- evaluator finished it first. Same columns, one condition more.
            CREATE OR REPLACE VIEW ratio_event_history AS
            SELECT e.id AS ratio_event_id, e.model_id, e.target_ratio, e.mode, e.requested_by,
                   e.created_at AS requested_at,
                   coalesce(o.status, 'pending') AS status, o.reason, o.message,
                   o.policy_id, o.source, o.metric, o.achieved_ratio,
                   o.agent_version_id, o.predictor_version_id,
                   o.predicted_perplexity, o.predicted_log_perplexity_std,
                   o.measured_perplexity AS verified_perplexity, o.verification_measurements,
                   o.answered_at, 1000 * extract(epoch FROM o.answered_at - e.created_at) AS answer_ms,
                   pl.id AS plan_id, pl.kept_parameters, pl.total_parameters, pl.created_at AS planned_at,
                   sc.perplexity AS spot_check_perplexity, sc.split AS spot_check_split,
                   sc.token_budget AS spot_check_tokens, sc.created_at AS spot_checked_at
              FROM ratio_events e
              LEFT JOIN ratio_event_outcomes o ON o.ratio_event_id = e.id
              LEFT JOIN plans pl ON pl.ratio_event_id = e.id
              LEFT JOIN LATERAL (
                  SELECT m.perplexity, m.split, m.token_budget, m.created_at
                    FROM evaluation_requests r JOIN measurements m ON m.request_id = r.id
                   WHERE r.correlation_id = e.id AND r.reason = 'spot-check' AND m.policy_id = o.policy_id
                   ORDER BY m.id LIMIT 1) sc ON true;
            """),
        Migration(version: 9, name: "dead letters keyed by record time, outbox entries set aside", sql: """
            -- The local broker keeps topics in memory: after a restart it numbers
            -- offsets from 0 again, so (consumer, topic, partition, offset) named
            -- two different records and the second letter was silently dropped.
            -- A redelivery carries the record's own timestamp; a new record does not.
            ALTER TABLE dead_letters ADD COLUMN message_timestamp timestamptz;
            DROP INDEX dead_letters_once;
            CREATE UNIQUE INDEX dead_letters_once_per_record
                ON dead_letters (consumer, topic, partition, "offset", (coalesce(message_timestamp, 'epoch'::timestamptz)))
                WHERE partition IS NOT NULL;

            -- An entry the broker can never take (a topic PPF does not have, a
            -- message over the size limit) is set aside with the reason, and a
            -- dead letter, instead of stopping every entry behind it.
            ALTER TABLE outbox ADD COLUMN failed_at timestamptz, ADD COLUMN failure text;
            DROP INDEX outbox_unpublished;
            CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL AND failed_at IS NULL;
            """),
        Migration(version: 10, name: "evaluation requests republished after a broker loss", sql: """
            -- An idle evaluator announces again a request that stayed unmeasured
            -- (a restarted local broker forgot its message): how often it did,
            -- bounded so a request no evaluator can measure is not announced forever,
            -- and when it did last, so the next announcement waits its turn.
            ALTER TABLE evaluation_requests
                ADD COLUMN republish_count integer NOT NULL DEFAULT 0 CHECK (republish_count >= 0),
                ADD COLUMN republished_at timestamptz;
            """),
        Migration(version: 11, name: "outbox relay lease", sql: """
            -- The one relay that may publish this schema's outbox, until when.
            -- A relay takes the lease in a short transaction, publishes with no
            -- transaction open (a Kafka wait never holds a database session),
            -- marks what it sent, and gives the lease back. A frozen or cut-off
            -- holder simply lets it expire; one row per schema.
            CREATE TABLE outbox_relay_lease (
                name       text PRIMARY KEY,
                holder     text NOT NULL,
                expires_at timestamptz NOT NULL
            );
            """),
    ]
}
