-- The customer's expected resolution date comes from CaseRouted and CaseExtended, which arrive on
-- two streams in any order (and again, after a lost ack). Like the status, the deadline of the
-- latest event (by event time) wins: applying an older event once more leaves it as it is.
ALTER TABLE intake.cases ADD COLUMN expected_resolution_at timestamptz;
