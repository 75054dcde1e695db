-- SLA clock (pause, one extension, warning and breach marks that make the sweeper fire once)
-- and the full lifecycle.
ALTER TABLE routing.cases
    ADD COLUMN origin              text        NOT NULL DEFAULT 'direct',
    ADD COLUMN warn_fraction       real        NOT NULL DEFAULT 0.8,
    ADD COLUMN warn_at             timestamptz,
    ADD COLUMN warned_at           timestamptz,
    ADD COLUMN breached_at         timestamptz,
    ADD COLUMN ack_breached_at     timestamptz,
    ADD COLUMN paused_at           timestamptz,
    ADD COLUMN status_before_pause text,
    ADD COLUMN extended            boolean     NOT NULL DEFAULT false,
    ADD COLUMN extension_reason    text,
    ADD COLUMN outcome             text,
    ADD COLUMN reopened_count      int         NOT NULL DEFAULT 0,
    ADD COLUMN review_outcome      text,
    ADD COLUMN review_reason       text;

UPDATE routing.cases SET warn_at = received_at + (resolve_due - received_at) * warn_fraction;

-- what the sweeper scans: open cases by their next deadline
CREATE INDEX cases_warn_due ON routing.cases (warn_at) WHERE warned_at IS NULL AND status IN ('routed', 'acknowledged');
CREATE INDEX cases_resolve_due ON routing.cases (resolve_due) WHERE breached_at IS NULL AND status IN ('routed', 'acknowledged');
CREATE INDEX cases_ack_due ON routing.cases (ack_due) WHERE ack_breached_at IS NULL AND status = 'routed';

-- every lifecycle event, for audit (transfers, extensions) and for retraining (reclassifications)
CREATE TABLE routing.case_log (
    id        bigserial   PRIMARY KEY,
    case_id   uuid        NOT NULL REFERENCES routing.cases (case_id),
    event     text        NOT NULL,
    data      jsonb       NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_log_by_case ON routing.case_log (case_id, id);

CREATE VIEW routing.corrections AS
SELECT case_id, data->>'kind' AS kind, data->>'topic' AS topic, data->>'previous_kind' AS previous_kind,
       data->>'previous_topic' AS previous_topic, data->>'by' AS corrected_by, at
FROM routing.case_log WHERE event = 'CaseReclassified';
