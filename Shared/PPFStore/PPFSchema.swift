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
    ]
}
