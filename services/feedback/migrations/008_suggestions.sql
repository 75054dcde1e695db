-- The suggestion programme's figures: each suggestion's review (outcome, category, when), for the office's
-- report. Suggestions are a small share of the cases: the report reads them through a partial index.
ALTER TABLE feedback.case_facts
    ADD COLUMN suggestion_outcome  text,
    ADD COLUMN suggestion_category text,
    ADD COLUMN reviewed_at         timestamptz;
CREATE INDEX case_facts_suggestions ON feedback.case_facts (day, affiliate) WHERE kind = 'suggestion';
