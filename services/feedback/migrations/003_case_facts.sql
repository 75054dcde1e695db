-- One row per case with what the reports need, kept up to date from the case events.
-- Events arrive from several streams in any order, so every column but the key may be
-- filled late.
CREATE TABLE feedback.case_facts (
    case_id         uuid        PRIMARY KEY,
    day             date,                 -- receipt date in Korean time
    received_at     timestamptz,
    affiliate       text,
    team            text,
    topic           text,
    kind            text,
    channel         text,
    origin          text,                 -- direct (자체민원) or fss_transfer (대외민원)
    urgency         text,
    repeat          boolean,
    acknowledged_at timestamptz,
    resolved_at     timestamptz,
    resolve_due     timestamptz,
    within_sla      boolean,
    extended        boolean     NOT NULL DEFAULT false,
    reopened        int         NOT NULL DEFAULT 0,
    alerts          int         NOT NULL DEFAULT 0,
    csat            smallint,
    nps             smallint,
    ces             smallint
);
CREATE INDEX case_facts_day ON feedback.case_facts (day, affiliate);
