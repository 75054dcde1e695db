-- The deadline, the extension and the resolution, order-proof as the pause is (011): the facts consumer takes
-- a case's events late, twice and in any order, so each of these facts is set by the latest event in time
-- (services/feedback/adapters/facts.py), not by the last one to arrive.
--
-- resolve_due_at: the time of the event whose deadline `resolve_due` is (CaseInfoProvided, CaseTransferred,
--                 CaseExtended, CaseReopened); NULL: the routing's deadline, earlier than all of them.
-- extended_at:    the latest CaseExtended's time; the case is `extended` when it is later than reopened_at
--                 (a reopened case gets a fresh deadline, which may be extended again).
-- reopened_at:    the latest CaseReopened's time; a resolution before it is undone, one after it stands.
--
-- Nullable, no default: adding them rewrites no row. Rows written before this migration have no such times
-- (NULL: earlier than any event recorded after it): a case extended before it stays extended until it is
-- reopened (one reopened and extended before it keeps the `extended` it had, whichever came first). Backfill:
-- an open case's deadline was guarded by pause_ended_at (a late CaseInfoProvided or transfer did not take back
-- the deadline of a later end); that guard is kept, as the time of its deadline. A resolved case's deadline
-- counts nowhere in the report, and its reopening sets a fresh one: those rows are left, so few are updated.
ALTER TABLE feedback.case_facts
    ADD COLUMN resolve_due_at timestamptz,
    ADD COLUMN extended_at    timestamptz,
    ADD COLUMN reopened_at    timestamptz;
UPDATE feedback.case_facts SET resolve_due_at = pause_ended_at
WHERE pause_ended_at IS NOT NULL AND resolved_at IS NULL;
