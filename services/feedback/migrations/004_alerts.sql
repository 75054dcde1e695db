-- Alerts as the dashboard shows them (the facts table only counts them).
CREATE TABLE feedback.alerts (
    event_id  text        PRIMARY KEY,
    case_id   uuid        NOT NULL,
    reason    text        NOT NULL,
    severity  text        NOT NULL,
    affiliate text,
    message   text        NOT NULL,
    call_id   text,
    at        timestamptz NOT NULL
);
CREATE INDEX alerts_recent ON feedback.alerts (at DESC);
