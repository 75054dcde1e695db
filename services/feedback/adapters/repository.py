INSERT_SURVEY = """
INSERT INTO feedback.surveys (case_id, affiliate, team, channel, delivery, requested_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (case_id) DO NOTHING RETURNING case_id"""

SURVEY_EXISTS = "SELECT 1 FROM feedback.surveys WHERE case_id = $1"

GET_RESPONSE = "SELECT csat, nps, ces, comment FROM feedback.responses WHERE case_id = $1 FOR UPDATE"

INSERT_RESPONSE = """
INSERT INTO feedback.responses (case_id, csat, nps, ces, comment, submitted_at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (case_id) DO NOTHING RETURNING case_id"""
