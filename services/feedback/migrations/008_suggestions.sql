-- The suggestion programme's figures: each suggestion's review (outcome, category, when), for the office's
-- report. Suggestions are a small share of the cases: the report reads them through a partial index.
ALTER TABLE feedback.case_facts
    ADD COLUMN suggestion_outcome  text,
    ADD COLUMN suggestion_category text,
    ADD COLUMN reviewed_at         timestamptz;
CREATE INDEX case_facts_suggestions ON feedback.case_facts (day, affiliate) WHERE kind = 'suggestion';
-- Suggestions adopted before this migration: their reward row says so, and when (rejections before it are
-- known only to routing, and stay counted as awaiting review; deploy/README.md).
UPDATE feedback.case_facts f SET suggestion_outcome = 'adopted', reviewed_at = r.granted_at
FROM feedback.rewards r
WHERE r.case_id = f.case_id AND f.kind = 'suggestion' AND f.suggestion_outcome IS NULL;
