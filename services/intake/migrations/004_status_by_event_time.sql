-- The current status is the latest event's: reopen and transfer move it back, which a rank cannot express.
ALTER TABLE intake.cases ADD COLUMN status_at timestamptz;
UPDATE intake.cases SET status_at = COALESCE((SELECT max(at) FROM intake.timeline t WHERE t.case_id = cases.id), received_at);
ALTER TABLE intake.cases ALTER COLUMN status_at SET NOT NULL;
ALTER TABLE intake.cases ALTER COLUMN status_at SET DEFAULT now();
