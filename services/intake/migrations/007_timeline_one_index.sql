-- A case's timeline is read by its case id (GET_TIMELINE), which the primary key (case_id, event_id)
-- already finds; the few entries of one case are sorted by time in the query. The second index,
-- (case_id, at), was written three or four times per case and never needed.
DROP INDEX IF EXISTS intake.timeline_by_case;
