-- The masked text each case was classified from: corrections become training examples.
ALTER TABLE classifier.classifications ADD COLUMN text text;
ALTER TABLE classifier.classifications ADD COLUMN repeat_count integer NOT NULL DEFAULT 0;

-- Complaints per pseudonymous customer and topic, for repeat detection inside a window.
CREATE TABLE classifier.customer_topics (
    customer_key text        NOT NULL,
    topic        text        NOT NULL,
    received_at  timestamptz NOT NULL,
    case_id      uuid        NOT NULL,
    PRIMARY KEY (customer_key, topic, received_at, case_id)
);

-- Live calls: angry and abusive customer turns so far (emotion alerts).
CREATE TABLE classifier.live_calls (
    call_id       text        PRIMARY KEY,
    angry_turns   integer     NOT NULL DEFAULT 0,
    abusive_turns integer     NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Topic and kind corrections made by affiliate teams (CaseReclassified), for retraining.
CREATE TABLE classifier.corrections (
    event_id      text        PRIMARY KEY,
    case_id       uuid        NOT NULL,
    kind          text        NOT NULL,
    topic         text        NOT NULL,
    previous_kind text        NOT NULL,
    previous_topic text       NOT NULL,
    corrected_by  text        NOT NULL,
    at            timestamptz NOT NULL
);
CREATE INDEX corrections_by_case ON classifier.corrections (case_id, at);
