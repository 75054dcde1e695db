"""The report's queries over feedback.case_facts, for a period [$1, $2) of receipt dates."""

BY_AFFILIATE = """
SELECT affiliate,
  count(*) AS cases,
  count(*) FILTER (WHERE kind = 'complaint') AS complaints,
  count(*) FILTER (WHERE kind = 'suggestion') AS suggestions,
  count(*) FILTER (WHERE kind = 'inquiry') AS inquiries,
  count(*) FILTER (WHERE kind = 'praise') AS praise,
  count(*) FILTER (WHERE kind = 'complaint' AND NOT coalesce(repeat, false) AND origin = 'direct') AS own_complaints,
  count(*) FILTER (WHERE kind = 'complaint' AND NOT coalesce(repeat, false) AND origin = 'fss_transfer')
      AS fss_complaints,
  count(*) FILTER (WHERE kind = 'complaint' AND repeat) AS repeat_complaints,
  count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolved,
  count(*) FILTER (WHERE within_sla) AS within_sla,
  count(*) FILTER (WHERE extended) AS extended,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - received_at)) / 3600 AS ack_p50_h,
  percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - received_at)) / 3600 AS ack_p90_h,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - received_at)) / 3600 AS resolve_p50_h,
  percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - received_at)) / 3600 AS resolve_p90_h,
  avg(csat)::float AS csat_avg,
  count(nps) AS nps_n,
  count(*) FILTER (WHERE nps >= 9) AS promoters,
  count(*) FILTER (WHERE nps <= 6) AS detractors,
  avg(ces)::float AS ces_avg,
  sum(alerts) AS alerts
FROM feedback.case_facts
WHERE day >= $1 AND day < $2 AND affiliate IS NOT NULL
GROUP BY affiliate ORDER BY affiliate"""

CSAT_DISTRIBUTION = """
SELECT csat, count(*) AS n FROM feedback.case_facts
WHERE day >= $1 AND day < $2 AND csat IS NOT NULL GROUP BY csat ORDER BY csat"""

BY_TOPIC = """
SELECT affiliate, topic, count(*) AS n FROM feedback.case_facts
WHERE day >= $1 AND day < $2 AND topic IS NOT NULL GROUP BY affiliate, topic ORDER BY affiliate, n DESC"""

BY_CHANNEL = """
SELECT channel, count(*) AS n FROM feedback.case_facts
WHERE day >= $1 AND day < $2 AND channel IS NOT NULL GROUP BY channel ORDER BY n DESC"""

# topics whose volume rose most against the period before
RISING_TOPICS = """
WITH cur AS (SELECT topic, count(*) AS n FROM feedback.case_facts WHERE day >= $1 AND day < $2 GROUP BY topic),
     prev AS (SELECT topic, count(*) AS n FROM feedback.case_facts WHERE day >= $3 AND day < $1 GROUP BY topic)
SELECT cur.topic, cur.n, coalesce(prev.n, 0) AS before FROM cur LEFT JOIN prev USING (topic)
WHERE cur.topic IS NOT NULL ORDER BY cur.n - coalesce(prev.n, 0) DESC, cur.n DESC LIMIT 5"""

BY_TEAM = """
SELECT affiliate, team, count(*) AS cases, count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolved,
  count(*) FILTER (WHERE within_sla) AS within_sla, count(*) FILTER (WHERE extended) AS extended,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - received_at)) / 3600 AS resolve_p50_h,
  avg(csat)::float AS csat_avg
FROM feedback.case_facts WHERE day >= $1 AND day < $2 AND team IS NOT NULL
GROUP BY affiliate, team ORDER BY affiliate, team"""
