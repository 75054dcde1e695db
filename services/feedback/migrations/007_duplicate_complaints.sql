-- 환산건수 leaves out duplicate complaints: a repeat on record (the same customer's complaint on the
-- same topic within the repeat window), not a complaint whose text only says it was repeated
-- ("세 번째 전화인데"), which may be the first one on record and so counted nowhere. Rows routed
-- before this column existed have it NULL, and are counted as they were (by `repeat`).
ALTER TABLE feedback.case_facts ADD COLUMN duplicate boolean;
