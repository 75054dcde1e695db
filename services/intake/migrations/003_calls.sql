-- Live calls: segments as they arrive (originals encrypted), the call's end, and alerts raised during it.
CREATE TABLE intake.call_segments (
    call_id        text        NOT NULL,
    seq            int         NOT NULL,
    speaker        text        NOT NULL,
    text_encrypted bytea       NOT NULL,
    ts             timestamptz NOT NULL,
    PRIMARY KEY (call_id, seq)            -- a duplicate seq is dropped
);

CREATE TABLE intake.calls (
    call_id   text        PRIMARY KEY,
    ended_at  timestamptz NOT NULL,
    outcome   text        NOT NULL,
    affiliate text,
    customer_encrypted bytea,
    summary_encrypted  bytea,
    case_id   uuid
);

CREATE TABLE intake.call_alerts (
    call_id text NOT NULL,
    reason  text NOT NULL,
    PRIMARY KEY (call_id, reason)
);
