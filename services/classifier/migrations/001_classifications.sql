CREATE TABLE classifier.classifications (
    case_id       uuid        PRIMARY KEY,
    kind          text        NOT NULL,
    topic         text        NOT NULL,
    urgency       text        NOT NULL,
    flags         text[]      NOT NULL,
    affiliate     text        NOT NULL,
    sentiment     text        NOT NULL,
    result        jsonb       NOT NULL,
    model_version text        NOT NULL,
    classified_at timestamptz NOT NULL DEFAULT now()
);
