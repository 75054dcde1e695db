-- The consulting system's own id of a consultation (a call or chat session id), kept so that a poor rating's
-- service-recovery alert (AlertRaised `consultation_recovery`) names the consultation the affiliate's
-- supervisors can find; NULL for consultations reported before this migration.
ALTER TABLE feedback.consultations ADD COLUMN ref text;
