-- Live calls: each angry customer turn, counted once however often its segment comes (a redelivery, or a
-- segment intake forwards again in a batch of another make-up); live_calls keeps each call's totals.
CREATE TABLE classifier.live_turns (
    call_id text    NOT NULL,
    seq     integer NOT NULL,
    abusive boolean NOT NULL,
    PRIMARY KEY (call_id, seq)
);
