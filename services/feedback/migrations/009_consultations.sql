-- Consultations that are not cases (seed 002: every consultation can be rated): a call, chat or branch
-- visit an affiliate's consulting system reports as ended gets a survey link; the answers count in the
-- office's report by the day the consultation ended (Korean time). No customer identity is kept: the
-- consulting system delivers the link itself, and its own id for the consultation (which might hold a
-- caller's number) is kept only inside the key.
CREATE TABLE feedback.consultations (
    consultation_id uuid        PRIMARY KEY,  -- uuid5 of the affiliate and the consulting system's own id
    affiliate       text        NOT NULL,
    channel         text        NOT NULL,
    topic           text,                     -- the agent's wrap-up, when given
    delivery        text        NOT NULL,
    ended_at        timestamptz NOT NULL,
    day             date        NOT NULL,     -- ended_at's day in Korean time
    requested_at    timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX consultations_day ON feedback.consultations (day, affiliate);

CREATE TABLE feedback.consultation_responses (
    consultation_id   uuid        PRIMARY KEY REFERENCES feedback.consultations (consultation_id),
    csat              smallint    CHECK (csat BETWEEN 1 AND 5),
    nps               smallint    CHECK (nps BETWEEN 0 AND 10),
    ces               smallint    CHECK (ces BETWEEN 1 AND 7),
    comment           text,                  -- PII-masked
    comment_topic     text,
    comment_sentiment text,
    submitted_at      timestamptz NOT NULL
);
