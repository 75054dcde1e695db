-- A case waiting for the customer's documents (CaseInfoRequested) has its SLA clock stopped by routing:
-- the report does not count it as open past its deadline until the clock runs again.
--
-- paused_at:      when the case's current pause began; NULL while its clock runs.
-- pause_ended_at: the latest event that ends a pause (CaseInfoProvided's resumed_at, a transfer's time,
--                 CaseResolved's resolved_at), whether or not the case was paused then.
-- Events may come late and in any order: a pause counts only if it began after the latest such end, and an
-- end clears only a pause that began before it (services/feedback/adapters/facts.py), so the columns come
-- out the same in any order of the same events.
--
-- Cases paused before this migration are known to routing only (feedback did not keep CaseInfoRequested):
-- they stay counted as before until their documents arrive, they are transferred or resolved.
ALTER TABLE feedback.case_facts
    ADD COLUMN paused_at      timestamptz,
    ADD COLUMN pause_ended_at timestamptz;
