-- The report counts the open cases already past their deadline against SLA compliance; open cases are few,
-- so a partial index finds a period's without reading its resolved ones.
CREATE INDEX case_facts_open ON feedback.case_facts (day, affiliate, team) WHERE resolved_at IS NULL;
