-- The report's materialised rollup of feedback.case_facts, kept up to date by "dirty days".
--
-- rollup_daily: one row per (day, affiliate, team, topic, channel) that has cases, with additive
-- measures only (counts and sums), so any period and any coarser breakdown is a SUM over rows.
-- rollup_hours: time-to-acknowledge and time-to-resolve histograms per (day, affiliate, team) in
-- fixed log-spaced buckets (feedback.hours_bucket), one row per non-empty bucket; medians and p90s
-- are read from the summed buckets (services/feedback/domain/report.py: percentile_from_buckets).
--
-- Maintenance: statement-level triggers on case_facts append the receipt day of every row an
-- INSERT, UPDATE, DELETE or COPY touched (old and new day, so a case whose day changes dirties
-- both) to rollup_dirty, in the writer's transaction. A report first recomputes the marked days
-- from case_facts (services/feedback/report_cli.py: refresh), then reads the rollup. Writers
-- only ever append marks (never update or delete them), so they never wait on each other or on
-- a report, and a mark becomes visible together with the fact change it stands for.

CREATE TABLE feedback.rollup_daily (
    day               date NOT NULL,
    affiliate         text,
    team              text,
    topic             text,
    channel           text,
    cases             int  NOT NULL,
    complaints        int  NOT NULL,
    suggestions       int  NOT NULL,
    inquiries         int  NOT NULL,
    praise            int  NOT NULL,
    own_complaints    int  NOT NULL,   -- 자체민원: complaint, origin direct, not a repeat
    fss_complaints    int  NOT NULL,   -- 대외민원: complaint, origin fss_transfer, not a repeat
    repeat_complaints int  NOT NULL,
    resolved          int  NOT NULL,
    within_sla        int  NOT NULL,
    extended          int  NOT NULL,
    alerts            int  NOT NULL,
    csat_n            int  NOT NULL,
    csat_sum          int  NOT NULL,
    csat_1            int  NOT NULL,
    csat_2            int  NOT NULL,
    csat_3            int  NOT NULL,
    csat_4            int  NOT NULL,
    csat_5            int  NOT NULL,
    nps_n             int  NOT NULL,
    promoters         int  NOT NULL,   -- nps 9-10
    detractors        int  NOT NULL,   -- nps 0-6
    ces_n             int  NOT NULL,
    ces_sum           int  NOT NULL
);
CREATE INDEX rollup_daily_day ON feedback.rollup_daily (day);

CREATE TABLE feedback.rollup_hours (
    day       date     NOT NULL,
    affiliate text,
    team      text,
    bucket    smallint NOT NULL,   -- feedback.hours_bucket of (acknowledged_at|resolved_at) - received_at
    ack       int      NOT NULL,   -- cases acknowledged within the bucket's time
    resolve   int      NOT NULL    -- cases resolved within the bucket's time
);
CREATE INDEX rollup_hours_day ON feedback.rollup_hours (day);

-- Bucket 0: under one minute (and negative times, clock skew). Bucket k = 1..167:
-- [2^((k-1)/8), 2^(k/8)) minutes, eight buckets per doubling (each 9.05 % wide). Bucket 168:
-- from 2^20.875 minutes (about 3.7 years) up. Mirrored in services/feedback/domain/report.py.
CREATE FUNCTION feedback.hours_bucket(seconds double precision) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN seconds < 60 THEN 0
                ELSE least(168, 1 + floor(8 * ln(seconds / 60) / ln(2)))::smallint END
$$;

-- Receipt days whose rollup rows are stale; one row per writing statement and day (duplicates
-- are expected and cheap: the report takes them all at once).
CREATE TABLE feedback.rollup_dirty (day date NOT NULL);

CREATE FUNCTION feedback.rollup_mark_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO feedback.rollup_dirty (day) SELECT DISTINCT day FROM new_rows WHERE day IS NOT NULL;
    RETURN NULL;
END $$;

CREATE FUNCTION feedback.rollup_mark_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO feedback.rollup_dirty (day)
    SELECT day FROM old_rows WHERE day IS NOT NULL UNION SELECT day FROM new_rows WHERE day IS NOT NULL;
    RETURN NULL;
END $$;

CREATE FUNCTION feedback.rollup_mark_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO feedback.rollup_dirty (day) SELECT DISTINCT day FROM old_rows WHERE day IS NOT NULL;
    RETURN NULL;
END $$;

CREATE FUNCTION feedback.rollup_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7885639611788848245);  -- report_sql.ROLLUP_LOCK ("mokrollu")
    DELETE FROM feedback.rollup_daily;
    DELETE FROM feedback.rollup_hours;
    RETURN NULL;
END $$;

-- Statement-level: one call per statement (a 1,000,000-row COPY marks its ~365 days once).
CREATE TRIGGER rollup_mark_insert AFTER INSERT ON feedback.case_facts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION feedback.rollup_mark_new();
CREATE TRIGGER rollup_mark_update AFTER UPDATE ON feedback.case_facts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION feedback.rollup_mark_changed();
CREATE TRIGGER rollup_mark_delete AFTER DELETE ON feedback.case_facts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION feedback.rollup_mark_gone();
CREATE TRIGGER rollup_clear AFTER TRUNCATE ON feedback.case_facts
    FOR EACH STATEMENT EXECUTE FUNCTION feedback.rollup_clear();

-- Facts recorded before this migration: their days are built by the first report.
INSERT INTO feedback.rollup_dirty (day) SELECT DISTINCT day FROM feedback.case_facts WHERE day IS NOT NULL;
