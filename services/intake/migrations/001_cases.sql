-- Intake owns the case as the customer sees it: what was submitted, its status, its timeline.
CREATE SEQUENCE intake.tracking_seq;

CREATE TABLE intake.cases (
    id                   uuid        PRIMARY KEY,
    tracking_code        text        NOT NULL UNIQUE,
    channel              text        NOT NULL,
    channel_message_id   text,
    idempotency_key      text        UNIQUE,
    request_hash         text        NOT NULL,
    text_masked          text        NOT NULL,
    text_encrypted       bytea       NOT NULL,       -- AES-256-GCM original (PIPA)
    customer_ref_masked  text,
    customer_ref_encrypted bytea,
    kind_hint            text,
    affiliate_hint       text,
    consent              jsonb       NOT NULL,
    status               text        NOT NULL,
    status_rank          int         NOT NULL,
    occurred_at          timestamptz,
    received_at          timestamptz NOT NULL,
    first_response_due   timestamptz NOT NULL,
    response             jsonb       NOT NULL,       -- the 202 body, replayed for retries
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel, channel_message_id)
);

CREATE TABLE intake.timeline (
    case_id   uuid        NOT NULL REFERENCES intake.cases (id),
    event_id  text        NOT NULL,
    status    text        NOT NULL,
    at        timestamptz NOT NULL,
    message   text        NOT NULL,                  -- customer-facing, Korean
    detail    jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (case_id, event_id)
);
CREATE INDEX timeline_by_case ON intake.timeline (case_id, at);
