-- live_calls rows are updated in place as a call's angry turns are counted, not written in time order:
-- a BRIN index on updated_at summarises little, and on PostgreSQL before 16 any index on it stops those
-- updates from being HOT. Housekeeping reads the table whole (one row per call with an angry turn).
DROP INDEX classifier.live_calls_updated_at;
