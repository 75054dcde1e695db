"""Analytics facts: one upsert per case event."""

from __future__ import annotations

import asyncpg

from shared.events import (
    AlertRaised, CaseAcknowledged, CaseExtended, CaseReclassified, CaseReopened, CaseResolved, CaseRouted,
    CaseTransferred, Event, FeedbackSubmitted,
)

KST_DAY = "(($2::timestamptz) AT TIME ZONE 'Asia/Seoul')::date"

ROUTED = f"""
INSERT INTO feedback.case_facts (case_id, day, received_at, affiliate, team, topic, kind, channel, origin, urgency,
                                 repeat, resolve_due)
VALUES ($1, {KST_DAY}, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (case_id) DO UPDATE SET day = EXCLUDED.day, received_at = EXCLUDED.received_at,
    affiliate = COALESCE(feedback.case_facts.affiliate, EXCLUDED.affiliate),
    team = COALESCE(feedback.case_facts.team, EXCLUDED.team),
    topic = COALESCE(feedback.case_facts.topic, EXCLUDED.topic), kind = COALESCE(feedback.case_facts.kind, EXCLUDED.kind),
    channel = EXCLUDED.channel, origin = EXCLUDED.origin, urgency = EXCLUDED.urgency, repeat = EXCLUDED.repeat,
    resolve_due = COALESCE(feedback.case_facts.resolve_due, EXCLUDED.resolve_due)"""

UPSERT = """
INSERT INTO feedback.case_facts (case_id) VALUES ($1) ON CONFLICT (case_id) DO NOTHING"""

SETS = {
    CaseAcknowledged: "acknowledged_at = COALESCE(acknowledged_at, $2)",
    CaseResolved: "resolved_at = $2, within_sla = $3",
    CaseExtended: "extended = true, resolve_due = $2",
    CaseTransferred: "affiliate = $2, team = $3",
    CaseReclassified: "kind = $2, topic = $3",
    CaseReopened: "reopened = reopened + 1, resolved_at = NULL, within_sla = NULL",
    AlertRaised: "alerts = alerts + 1",
    FeedbackSubmitted: "csat = $2, nps = $3, ces = $4",
}


def _args(e: Event) -> tuple:
    match e:
        case CaseAcknowledged():
            return (e.acknowledged_at,)
        case CaseResolved():
            return (e.resolved_at, e.within_sla)
        case CaseExtended():
            return (e.resolve_due,)
        case CaseTransferred():
            return (e.affiliate, e.team)
        case CaseReclassified():
            return (e.kind, e.topic)
        case FeedbackSubmitted():
            return (e.csat, e.nps, e.ces)
    return ()


# a fetched batch's ratings in one statement (so the rollup's statement trigger fires once, not per
# rating); it returns the cases it updated, and the others (no facts row yet) go one at a time
RATINGS = """
UPDATE feedback.case_facts f SET csat = v.csat, nps = v.nps, ces = v.ces
FROM unnest($1::uuid[], $2::int[], $3::int[], $4::int[]) AS v(case_id, csat, nps, ces)
WHERE f.case_id = v.case_id
RETURNING f.case_id"""


async def record_ratings(conn: asyncpg.Connection, ratings: list[FeedbackSubmitted]) -> set:
    """Applies the ratings (at most one per case) whose case already has a facts row; returns those cases."""
    rows = await conn.fetch(RATINGS, [e.case_id for e in ratings], [e.csat for e in ratings],
                            [e.nps for e in ratings], [e.ces for e in ratings])
    return {r[0] for r in rows}


INSERT_ALERT = """
INSERT INTO feedback.alerts (event_id, case_id, reason, severity, affiliate, message, call_id, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING"""


async def record_alert(conn: asyncpg.Connection, event_id: str, at, e: AlertRaised) -> None:
    await conn.execute(INSERT_ALERT, event_id, e.case_id, e.reason, e.severity, e.affiliate, e.message, e.call_id, at)


async def record(conn: asyncpg.Connection, e: Event) -> None:
    if isinstance(e, CaseRouted):
        if e.copy_reason:
            return  # the office's copy is the same case
        await conn.execute(ROUTED, e.case_id, e.received_at, e.affiliate, e.team, e.topic, e.kind, e.channel,
                           e.origin, e.urgency, e.repeat, e.resolve_due)
        return
    sql = SETS.get(type(e))
    if sql is None:
        return
    update = f"UPDATE feedback.case_facts SET {sql} WHERE case_id = $1"
    if await conn.execute(update, e.case_id, *_args(e)) == "UPDATE 0":  # the event came before CaseRouted
        await conn.execute(UPSERT, e.case_id)
        await conn.execute(update, e.case_id, *_args(e))
