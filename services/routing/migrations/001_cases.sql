-- Routing owns assignments and the case lifecycle inside the affiliate teams.
CREATE TABLE routing.cases (
    case_id         uuid        PRIMARY KEY,
    tracking_code   text        NOT NULL,
    channel         text        NOT NULL,
    affiliate       text        NOT NULL,
    team            text        NOT NULL,
    kind            text        NOT NULL,
    topic           text        NOT NULL,
    urgency         text        NOT NULL,
    flags           text[]      NOT NULL,
    copied_to_cpo   boolean     NOT NULL DEFAULT false,
    status          text        NOT NULL,
    received_at     timestamptz NOT NULL,
    routed_at       timestamptz NOT NULL DEFAULT now(),
    ack_due         timestamptz,
    resolve_due     timestamptz NOT NULL,
    acknowledged_at timestamptz,
    handler_name    text,
    handler_contact text,
    resolved_at     timestamptz,
    resolution      text
);
CREATE INDEX cases_by_queue ON routing.cases (affiliate, team, status);
