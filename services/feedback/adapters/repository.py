INSERT_SURVEY = """
INSERT INTO feedback.surveys (case_id, affiliate, team, channel, delivery, requested_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (case_id) DO NOTHING RETURNING case_id"""

# One statement, so one round trip and atomic on its own: a first answer goes in together with its
# FeedbackSubmitted outbox row ($10-$13), or neither does, and the caller learns why not: no survey
# was sent, or the case already has an answer (returned for comparison; the SELECT sees the rows as
# they were before this INSERT). A first answer committed concurrently is neither inserted nor
# seen: the caller asks again.
RECORD_RESPONSE = """
WITH survey AS (SELECT case_id, affiliate FROM feedback.surveys WHERE case_id = $1),
ins AS (
  INSERT INTO feedback.responses (case_id, csat, nps, ces, comment, submitted_at, comment_topic, comment_sentiment,
                                  recovery)
  SELECT case_id, $2, $3, $4, $5, $6, $7, $8, $9 FROM survey
  ON CONFLICT (case_id) DO NOTHING RETURNING case_id),
event AS (
  INSERT INTO feedback.outbox (event_id, subject, headers, body)
  SELECT $10, $11, $12::text::jsonb, $13 FROM ins)
SELECT (SELECT affiliate FROM survey) AS affiliate, EXISTS (SELECT 1 FROM survey) AS has_survey,
       EXISTS (SELECT 1 FROM ins) AS inserted, r.case_id IS NOT NULL AS answered, r.csat, r.nps, r.ces, r.comment
FROM (SELECT 1) AS one LEFT JOIN feedback.responses r ON r.case_id = $1"""

# many first answers at once: those whose survey exists and that were not answered before are
# stored with their FeedbackSubmitted outbox rows; their cases come back, with the survey's
# affiliate and whether the answer needs service recovery (its alert and reopening follow)
RECORD_RESPONSES = """
WITH v AS (
  SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[], $4::int[], $5::text[], $6::timestamptz[], $7::text[],
                       $8::text[], $9::bool[], $10::text[], $11::text[], $12::text[], $13::bytea[])
    AS v(case_id, csat, nps, ces, comment, submitted_at, topic, sentiment, recovery, event_id, subject, headers,
         body)),
ins AS (
  INSERT INTO feedback.responses (case_id, csat, nps, ces, comment, submitted_at, comment_topic, comment_sentiment,
                                  recovery)
  SELECT v.case_id, v.csat, v.nps, v.ces, v.comment, v.submitted_at, v.topic, v.sentiment, v.recovery
  FROM v JOIN feedback.surveys s ON s.case_id = v.case_id
  ON CONFLICT (case_id) DO NOTHING RETURNING case_id, recovery),
event AS (
  INSERT INTO feedback.outbox (event_id, subject, headers, body)
  SELECT v.event_id, v.subject, v.headers::jsonb, v.body FROM v JOIN ins ON ins.case_id = v.case_id)
SELECT ins.case_id, ins.recovery, s.affiliate FROM ins JOIN feedback.surveys s ON s.case_id = ins.case_id"""

INSERT_REWARD = """
INSERT INTO feedback.rewards (case_id, affiliate, points) VALUES ($1, $2, $3)
ON CONFLICT (case_id) DO NOTHING RETURNING case_id"""

# a consultation reported as ended: its survey, once (reporting it again finds the first)
INSERT_CONSULTATION = """
INSERT INTO feedback.consultations (consultation_id, affiliate, channel, topic, delivery, ended_at, day,
                                    requested_at, expires_at, ref)
VALUES ($1, $2, $3, $4, $5, $6, ($6 AT TIME ZONE 'Asia/Seoul')::date, $7, $8, $9)
ON CONFLICT (consultation_id) DO NOTHING RETURNING consultation_id"""

CONSULTATION = """
SELECT affiliate, channel, topic, delivery, ended_at, expires_at FROM feedback.consultations
WHERE consultation_id = $1"""

# as RECORD_RESPONSE, for a consultation (no event: a consultation is no case, and its answers are the
# report's only): a first answer goes in, or the caller learns there is no survey or an earlier answer
RECORD_CONSULTATION_RESPONSE = """
WITH survey AS (SELECT consultation_id, affiliate, ref FROM feedback.consultations WHERE consultation_id = $1),
ins AS (
  INSERT INTO feedback.consultation_responses (consultation_id, csat, nps, ces, comment, submitted_at, comment_topic,
                                               comment_sentiment)
  SELECT consultation_id, $2, $3, $4, $5, $6, $7, $8 FROM survey
  ON CONFLICT (consultation_id) DO NOTHING RETURNING consultation_id)
SELECT EXISTS (SELECT 1 FROM survey) AS has_survey, EXISTS (SELECT 1 FROM ins) AS inserted,
       r.consultation_id IS NOT NULL AS answered, r.csat, r.nps, r.ces, r.comment,
       (SELECT affiliate FROM survey) AS affiliate, (SELECT ref FROM survey) AS ref
FROM (SELECT 1) AS one LEFT JOIN feedback.consultation_responses r ON r.consultation_id = $1"""
