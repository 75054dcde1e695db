-- Applied to every service schema as its migration 000 ({schema} is the service name).
CREATE SCHEMA IF NOT EXISTS {schema};

-- Transactional outbox: written in the same transaction as the business change,
-- published to JetStream by the relay with Nats-Msg-Id = event_id.
CREATE TABLE {schema}.outbox (
    id         bigserial   PRIMARY KEY,
    event_id   text        NOT NULL UNIQUE,
    subject    text        NOT NULL,
    headers    jsonb       NOT NULL,
    body       bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX outbox_pending ON {schema}.outbox (id) WHERE sent_at IS NULL;

-- Idempotent consumer: (consumer, event id) recorded with the effect.
CREATE TABLE {schema}.inbox (
    consumer     text        NOT NULL,
    event_id     text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
