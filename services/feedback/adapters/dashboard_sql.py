"""What the operator dashboard shows; all of it from feedback's own tables."""

TODAY_BY_AFFILIATE_TOPIC = """
SELECT affiliate, topic, count(*) AS n FROM feedback.case_facts
WHERE day = $1 AND affiliate IS NOT NULL GROUP BY affiliate, topic ORDER BY affiliate, n DESC"""

# critical and high alerts, and every alert raised during a call (an angry or abusive caller is a warning,
# but one a supervisor may still act on while the call goes on)
RECENT_ALERTS = """
SELECT reason, severity, affiliate, message, call_id, at FROM feedback.alerts
WHERE severity IN ('critical', 'high') OR call_id IS NOT NULL ORDER BY at DESC LIMIT 20"""

BREACHES_TODAY = """
SELECT affiliate, count(*) AS n FROM feedback.alerts
WHERE reason = 'sla_breach' AND at >= $1 GROUP BY affiliate ORDER BY affiliate"""

OLDEST_UNACKNOWLEDGED = """
SELECT affiliate, team, min(received_at) AS oldest, count(*) AS waiting FROM feedback.case_facts
WHERE acknowledged_at IS NULL AND resolved_at IS NULL AND affiliate IS NOT NULL
GROUP BY affiliate, team ORDER BY oldest"""

RATING_TREND = """
SELECT day, avg(csat)::float AS csat, avg(ces)::float AS ces, count(nps) AS nps_n,
       count(*) FILTER (WHERE nps >= 9) AS promoters, count(*) FILTER (WHERE nps <= 6) AS detractors
FROM feedback.case_facts WHERE day >= $1 AND day <= $2 AND (csat IS NOT NULL OR nps IS NOT NULL OR ces IS NOT NULL)
GROUP BY day ORDER BY day"""
