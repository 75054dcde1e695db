-- One reward per suggestion, however often its adoption is delivered or replayed.
CREATE TABLE feedback.rewards (
    case_id    uuid        PRIMARY KEY,
    affiliate  text        NOT NULL,
    points     int         NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE feedback.responses
    ADD COLUMN comment_topic     text,
    ADD COLUMN comment_sentiment text,
    ADD COLUMN recovery          boolean NOT NULL DEFAULT false;
