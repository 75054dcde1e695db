"""The report's queries: refreshing the materialised rollup (migration 005) from
feedback.case_facts for the days marked dirty, and reading it for a period [$1, $2) of
receipt dates. A report reads O(days × affiliates × teams × topics × channels) rollup
rows, never the cases themselves."""

ROLLUP_LOCK = int.from_bytes(b"mokrollu", "big")  # one refresher at a time; also in 005_rollup.sql

LOCK = "SELECT pg_advisory_xact_lock($1)"
TRY_LOCK = "SELECT pg_try_advisory_xact_lock($1)"
# the rebuild's sorts and hashes stay in memory (a month of 1,000,000 cases a year: ~85,000 facts)
REFRESH_MEMORY = "SET LOCAL work_mem = '64MB'"

DIRTY_DAYS = "SELECT DISTINCT day FROM feedback.rollup_dirty ORDER BY day"

# Only marks this statement can see are taken: a writer still in flight keeps its mark for next time.
TAKE_DIRTY = """
WITH taken AS (DELETE FROM feedback.rollup_dirty WHERE day = ANY($1::date[]) RETURNING day)
SELECT count(*) FROM taken"""

CLEAR_DAILY = "DELETE FROM feedback.rollup_daily WHERE day = ANY($1::date[])"
CLEAR_HOURS = "DELETE FROM feedback.rollup_hours WHERE day = ANY($1::date[])"

# Both rollups of the given days from one read of their facts.
BUILD = """
WITH f AS MATERIALIZED (
  SELECT day, affiliate, team, topic, channel, kind, origin, repeat,
         coalesce(duplicate, repeat, false) AS duplicate,  -- NULL: routed before the column, counted as then
         received_at, acknowledged_at, resolved_at, within_sla, extended, alerts, csat, nps, ces
  FROM feedback.case_facts WHERE day = ANY($1::date[])),
daily AS (
  INSERT INTO feedback.rollup_daily (day, affiliate, team, topic, channel, cases, complaints, suggestions, inquiries,
      praise, own_complaints, fss_complaints, repeat_complaints, resolved, within_sla, extended, alerts, csat_n,
      csat_sum, csat_1, csat_2, csat_3, csat_4, csat_5, nps_n, promoters, detractors, ces_n, ces_sum)
  SELECT day, affiliate, team, topic, channel,
    count(*),
    count(*) FILTER (WHERE kind = 'complaint'),
    count(*) FILTER (WHERE kind = 'suggestion'),
    count(*) FILTER (WHERE kind = 'inquiry'),
    count(*) FILTER (WHERE kind = 'praise'),
    count(*) FILTER (WHERE kind = 'complaint' AND NOT duplicate AND origin = 'direct'),
    count(*) FILTER (WHERE kind = 'complaint' AND NOT duplicate AND origin = 'fss_transfer'),
    count(*) FILTER (WHERE kind = 'complaint' AND repeat),
    count(*) FILTER (WHERE resolved_at IS NOT NULL),
    count(*) FILTER (WHERE within_sla),
    count(*) FILTER (WHERE extended),  -- its deadline since the latest reopening extended (facts.EXTENDS)
    coalesce(sum(alerts), 0),
    count(csat), coalesce(sum(csat), 0),
    count(*) FILTER (WHERE csat = 1), count(*) FILTER (WHERE csat = 2), count(*) FILTER (WHERE csat = 3),
    count(*) FILTER (WHERE csat = 4), count(*) FILTER (WHERE csat = 5),
    count(nps), count(*) FILTER (WHERE nps >= 9), count(*) FILTER (WHERE nps <= 6),
    count(ces), coalesce(sum(ces), 0)
  FROM f GROUP BY day, affiliate, team, topic, channel),
hours AS (
  INSERT INTO feedback.rollup_hours (day, affiliate, team, bucket, ack, resolve)
  SELECT f.day, f.affiliate, f.team, feedback.hours_bucket(date_part('epoch', t.at - f.received_at)),
         count(*) FILTER (WHERE t.what = 'a'), count(*) FILTER (WHERE t.what = 'r')
  FROM f CROSS JOIN LATERAL (VALUES ('a', f.acknowledged_at), ('r', f.resolved_at)) AS t (what, at)
  WHERE f.received_at IS NOT NULL AND t.at IS NOT NULL
  GROUP BY 1, 2, 3, 4)
SELECT 1"""

_CSAT_AVG = "(sum(csat_sum)::numeric / nullif(sum(csat_n), 0))::float"  # = avg(csat) over the cases, exactly

BY_AFFILIATE = f"""
SELECT affiliate, sum(cases) AS cases, sum(complaints) AS complaints, sum(suggestions) AS suggestions,
  sum(inquiries) AS inquiries, sum(praise) AS praise, sum(own_complaints) AS own_complaints,
  sum(fss_complaints) AS fss_complaints, sum(repeat_complaints) AS repeat_complaints, sum(resolved) AS resolved,
  sum(within_sla) AS within_sla, sum(extended) AS extended, {_CSAT_AVG} AS csat_avg, sum(nps_n) AS nps_n,
  sum(promoters) AS promoters, sum(detractors) AS detractors,
  (sum(ces_sum)::numeric / nullif(sum(ces_n), 0))::float AS ces_avg, sum(alerts) AS alerts
FROM feedback.rollup_daily
WHERE day >= $1 AND day < $2 AND affiliate IS NOT NULL
GROUP BY affiliate ORDER BY affiliate"""

CSAT_DISTRIBUTION = """
SELECT s.csat, s.n FROM (
  SELECT sum(csat_1) AS c1, sum(csat_2) AS c2, sum(csat_3) AS c3, sum(csat_4) AS c4, sum(csat_5) AS c5
  FROM feedback.rollup_daily WHERE day >= $1 AND day < $2) t
CROSS JOIN LATERAL (VALUES (1, t.c1), (2, t.c2), (3, t.c3), (4, t.c4), (5, t.c5)) AS s (csat, n)
WHERE s.n > 0 ORDER BY s.csat"""

BY_TOPIC = """
SELECT affiliate, topic, sum(cases) AS n FROM feedback.rollup_daily
WHERE day >= $1 AND day < $2 AND topic IS NOT NULL GROUP BY affiliate, topic ORDER BY affiliate, n DESC, topic"""

BY_CHANNEL = """
SELECT channel, sum(cases) AS n FROM feedback.rollup_daily
WHERE day >= $1 AND day < $2 AND channel IS NOT NULL GROUP BY channel ORDER BY n DESC, channel"""

# topics whose volume rose most: the period [$1, $2) against the one before, [$3, $4) (its first days only,
# as many as the period has so far, while the period is running)
RISING_TOPICS = """
SELECT topic, n, before FROM (
  SELECT topic, sum(cases) FILTER (WHERE day >= $1) AS n,
    coalesce(sum(cases) FILTER (WHERE day < $4), 0) AS before
  FROM feedback.rollup_daily WHERE day >= $3 AND day < $2 AND topic IS NOT NULL GROUP BY topic) t
WHERE n > 0 ORDER BY n - before DESC, n DESC, topic LIMIT 5"""

BY_TEAM = f"""
SELECT affiliate, team, sum(cases) AS cases, sum(resolved) AS resolved, sum(within_sla) AS within_sla,
  sum(extended) AS extended, {_CSAT_AVG} AS csat_avg
FROM feedback.rollup_daily WHERE day >= $1 AND day < $2 AND team IS NOT NULL
GROUP BY affiliate, team ORDER BY affiliate, team"""

# summed time histograms per (affiliate, team); the report derives affiliate and team percentiles
HOURS = """
SELECT affiliate, team, bucket, sum(ack) AS ack, sum(resolve) AS resolve FROM feedback.rollup_hours
WHERE day >= $1 AND day < $2 GROUP BY affiliate, team, bucket"""

# open cases of the period already past their deadline (a small partial index: open cases only, migration 006);
# a case waiting for the customer's documents is not: its clock is stopped, and its deadline moves when they
# come (migration 011)
OPEN_OVERDUE = """
SELECT affiliate, team, count(*) AS n FROM feedback.case_facts
WHERE day >= $1 AND day < $2 AND resolved_at IS NULL AND resolve_due < $3 AND paused_at IS NULL
  AND affiliate IS NOT NULL
GROUP BY affiliate, team"""

# the suggestion programme: suggestions received in the period, per affiliate and the category their review
# sorted them into, with their reviews and the points paid for adoptions (a partial index: suggestions only,
# migration 008)
SUGGESTIONS = """
SELECT f.affiliate, f.suggestion_category AS category, count(*) AS received,
  count(*) FILTER (WHERE f.suggestion_outcome = 'adopted') AS adopted,
  count(*) FILTER (WHERE f.suggestion_outcome = 'rejected') AS rejected,
  coalesce(sum(r.points), 0) AS points,
  coalesce(sum(date_part('epoch', f.reviewed_at - f.received_at)) FILTER (WHERE f.reviewed_at IS NOT NULL
                                                                         AND f.received_at IS NOT NULL), 0)
    AS review_seconds,
  count(*) FILTER (WHERE f.reviewed_at IS NOT NULL AND f.received_at IS NOT NULL) AS timed
FROM feedback.case_facts f LEFT JOIN feedback.rewards r USING (case_id)
WHERE f.kind = 'suggestion' AND f.day >= $1 AND f.day < $2 AND f.affiliate IS NOT NULL
GROUP BY f.affiliate, f.suggestion_category ORDER BY f.affiliate, f.suggestion_category"""


# consultations that were not cases, by the day they ended (Korean time), per affiliate and channel: how
# many were surveyed and answered, and the sums the averages and NPS are made of (report.CONSULTATION_SUMS)
CONSULTATIONS = """
SELECT c.affiliate, c.channel, count(*) AS surveyed, count(r.consultation_id) AS answered,
       count(r.csat) AS csat_n, coalesce(sum(r.csat), 0) AS csat_sum, count(r.nps) AS nps_n,
       count(*) FILTER (WHERE r.nps >= 9) AS promoters, count(*) FILTER (WHERE r.nps <= 6) AS detractors,
       count(r.ces) AS ces_n, coalesce(sum(r.ces), 0) AS ces_sum
FROM feedback.consultations c LEFT JOIN feedback.consultation_responses r USING (consultation_id)
WHERE c.day >= $1 AND c.day < $2
GROUP BY c.affiliate, c.channel"""
