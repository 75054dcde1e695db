-- One alert per call and reason, however many segments repeat the words.
CREATE TABLE classifier.live_alerts (
    call_id   text        NOT NULL,
    reason    text        NOT NULL,
    raised_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (call_id, reason)
);
