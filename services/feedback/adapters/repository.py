INSERT_SURVEY = """
INSERT INTO feedback.surveys (case_id, affiliate, team, channel, delivery, requested_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (case_id) DO NOTHING RETURNING case_id"""

SURVEY_EXISTS = "SELECT 1 FROM feedback.surveys WHERE case_id = $1"

GET_RESPONSE = "SELECT csat, nps, ces, comment FROM feedback.responses WHERE case_id = $1 FOR UPDATE"

INSERT_RESPONSE = """
INSERT INTO feedback.responses (case_id, csat, nps, ces, comment, submitted_at, comment_topic, comment_sentiment,
                                recovery)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (case_id) DO NOTHING RETURNING case_id"""

SURVEY_AFFILIATE = "SELECT affiliate FROM feedback.surveys WHERE case_id = $1"

INSERT_REWARD = """
INSERT INTO feedback.rewards (case_id, affiliate, points) VALUES ($1, $2, $3)
ON CONFLICT (case_id) DO NOTHING RETURNING case_id"""
