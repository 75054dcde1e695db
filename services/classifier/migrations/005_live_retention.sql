-- Housekeeping deletes the live-call guard rows once no stream can redeliver their segments
-- (shared/housekeeping.py, Retention: the inbox's age). Turns now record when they were counted;
-- those counted before this migration take its time.
ALTER TABLE classifier.live_turns ADD COLUMN at timestamptz NOT NULL DEFAULT now();
CREATE INDEX live_turns_at ON classifier.live_turns USING brin (at);
CREATE INDEX live_alerts_raised_at ON classifier.live_alerts USING brin (raised_at);
CREATE INDEX live_calls_updated_at ON classifier.live_calls USING brin (updated_at);
