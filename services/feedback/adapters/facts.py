"""Analytics facts: one upsert per case event; ratings and alerts a batch at a time."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.feedback.domain.rewards import CONSULTATION_RECOVERY
from shared.consumer import DEAD_LETTER
from shared.events import (
    AlertRaised, CaseAcknowledged, CaseExtended, CaseInfoProvided, CaseInfoRequested, CaseReclassified, CaseReopened,
    CaseResolved, CaseRouted, CaseTransferred, Event, FeedbackSubmitted, SuggestionReviewed,
)

# routings (a fetched batch's, or one) in one statement: the rollup's statement trigger fires once per
# statement, and per case it was PostgreSQL's costliest statement in the pipeline benchmark (~1 ms)
ROUTED = """
INSERT INTO feedback.case_facts (case_id, day, received_at, affiliate, team, topic, kind, channel, origin, urgency,
                                 repeat, resolve_due, duplicate)
SELECT r.case_id, (r.received_at AT TIME ZONE 'Asia/Seoul')::date, r.received_at, r.affiliate, r.team, r.topic,
       r.kind, r.channel, r.origin, r.urgency, r.repeat, r.resolve_due, r.duplicate
  FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
              $8::text[], $9::text[], $10::boolean[], $11::timestamptz[], $12::boolean[])
       AS r (case_id, received_at, affiliate, team, topic, kind, channel, origin, urgency, repeat, resolve_due,
             duplicate)
ON CONFLICT (case_id) DO UPDATE SET day = EXCLUDED.day, received_at = EXCLUDED.received_at,
    affiliate = COALESCE(feedback.case_facts.affiliate, EXCLUDED.affiliate),
    team = COALESCE(feedback.case_facts.team, EXCLUDED.team),
    topic = COALESCE(feedback.case_facts.topic, EXCLUDED.topic), kind = COALESCE(feedback.case_facts.kind, EXCLUDED.kind),
    channel = EXCLUDED.channel, origin = EXCLUDED.origin, urgency = EXCLUDED.urgency, repeat = EXCLUDED.repeat,
    duplicate = EXCLUDED.duplicate,
    resolve_due = COALESCE(feedback.case_facts.resolve_due, EXCLUDED.resolve_due)"""

UPSERT = """
INSERT INTO feedback.case_facts (case_id) VALUES ($1) ON CONFLICT (case_id) DO NOTHING"""

# A case waiting for the customer's documents has its SLA clock stopped (routing's lifecycle): CaseInfoRequested
# pauses it; CaseInfoProvided, a transfer and the resolution run it again (migration 011). Those events may
# come late and in any order, so each keeps its time: a pause counts only if it began after the latest end
# (`pause_ended_at`), and an end clears only a pause that began before it. Whatever the order, the case is
# paused exactly when its latest CaseInfoRequested is later than its latest end. `{t}`: the end's time.
ENDS_PAUSE = ("pause_ended_at = greatest(pause_ended_at, {t}), "
              "paused_at = CASE WHEN paused_at > {t} THEN paused_at END")
# the deadline set by the end of a pause (the pause's days credited), unless a later end already set its own:
# a late CaseInfoProvided does not take back the deadline of a later pause's end or of a transfer after it
LATEST_END = "{t} >= coalesce(pause_ended_at, '-infinity')"

SETS = {
    CaseAcknowledged: "acknowledged_at = COALESCE(acknowledged_at, $2)",
    CaseResolved: "resolved_at = $2, within_sla = $3, " + ENDS_PAUSE.format(t="$2"),
    CaseExtended: "extended = true, resolve_due = $2",
    CaseInfoRequested: "paused_at = CASE WHEN $2 > coalesce(pause_ended_at, '-infinity') "
                       "THEN greatest(paused_at, $2) ELSE paused_at END",
    # the deadline moved by the pause
    CaseInfoProvided: f"resolve_due = CASE WHEN {LATEST_END.format(t='$3')} THEN $2 ELSE resolve_due END, "
                      + ENDS_PAUSE.format(t="$3"),
    # $5: the transfer's time (its event's); without it (a caller that does not know it), a pause known now ends
    CaseTransferred: "affiliate = $2, team = $3, "
                     f"resolve_due = CASE WHEN $5::timestamptz IS NULL OR {LATEST_END.format(t='$5')} "
                     "THEN COALESCE($4, resolve_due) ELSE resolve_due END, "
                     + ENDS_PAUSE.format(t="coalesce($5, paused_at)"),
    CaseReclassified: "kind = $2, topic = $3",
    CaseReopened: "reopened = reopened + 1, resolved_at = NULL, within_sla = NULL, "
                  "resolve_due = COALESCE($2, resolve_due)",
    SuggestionReviewed: "suggestion_outcome = $2, suggestion_category = $3, reviewed_at = $4",
}


def _args(e: Event, at: datetime | None) -> tuple:
    match e:
        case CaseAcknowledged():
            return (e.acknowledged_at,)
        case CaseResolved():
            return (e.resolved_at, e.within_sla)
        case CaseExtended():
            return (e.resolve_due,)
        case CaseInfoRequested():
            return (e.paused_at,)
        case CaseInfoProvided():
            return (e.resolve_due, e.resumed_at)
        case CaseTransferred():
            return (e.affiliate, e.team, e.resolve_due, at)
        case CaseReclassified():
            return (e.kind, e.topic)
        case CaseReopened():
            return (e.resolve_due,)
        case SuggestionReviewed():
            return (e.outcome, e.category, e.reviewed_at)
    return ()


# a fetched batch's ratings in one statement (so the rollup's statement trigger fires once, not per
# rating); a rating that came before its case's other events makes the case's row, as UPSERT does
RATINGS = """
INSERT INTO feedback.case_facts (case_id, csat, nps, ces)
SELECT * FROM unnest($1::uuid[], $2::smallint[], $3::smallint[], $4::smallint[])
ON CONFLICT (case_id) DO UPDATE SET csat = EXCLUDED.csat, nps = EXCLUDED.nps, ces = EXCLUDED.ces"""


async def record_ratings(conn: asyncpg.Connection, ratings: list[FeedbackSubmitted]) -> None:
    """Applies the ratings, at most one per case (the last one, in stream order), in case order
    (every bulk writer locks rows in case order, so two of them cannot deadlock)."""
    ratings = sorted(ratings, key=lambda e: e.case_id)
    await conn.execute(RATINGS, [e.case_id for e in ratings], [e.csat for e in ratings],
                       [e.nps for e in ratings], [e.ces for e in ratings])


# alerts about no case, which count in no case's facts (feedback.alerts keeps them): a dead letter is
# about a message, a consultation's poor rating about a consultation
NOT_ABOUT_A_CASE = [DEAD_LETTER, CONSULTATION_RECOVERY]
# a fetched batch's alerts in one statement: the alert rows, stored once per event id, and each
# case's count of the alerts newly stored for it, but for the reasons in $9 (NOT_ABOUT_A_CASE)
ALERTS = """
WITH a AS (
  INSERT INTO feedback.alerts (event_id, case_id, reason, severity, affiliate, message, call_id, at)
  SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::timestamptz[])
  ON CONFLICT DO NOTHING RETURNING case_id, reason)
INSERT INTO feedback.case_facts (case_id, alerts) SELECT case_id, count(*) FROM a WHERE reason <> ALL($9::text[])
GROUP BY case_id
ON CONFLICT (case_id) DO UPDATE SET alerts = feedback.case_facts.alerts + EXCLUDED.alerts"""


async def record_alerts(conn: asyncpg.Connection, alerts: list[tuple[str, datetime, AlertRaised]]) -> None:
    """(event id, event time, alert) each; written in case order, as the other bulk writers do."""
    alerts = sorted(alerts, key=lambda a: a[2].case_id)
    await conn.execute(ALERTS, [a[0] for a in alerts], [a[2].case_id for a in alerts], [a[2].reason for a in alerts],
                       [a[2].severity for a in alerts], [a[2].affiliate for a in alerts],
                       [a[2].message for a in alerts], [a[2].call_id for a in alerts], [a[1] for a in alerts],
                       NOT_ABOUT_A_CASE)


async def record_routings(conn: asyncpg.Connection, routed: list[CaseRouted]) -> None:
    """At most one routing per case (the statement cannot touch a row twice), written in case
    order as the other bulk writers do; the office's copies (the same case) and the handoffs of a
    transfer or reopen (CaseTransferred and CaseReopened are recorded) are skipped."""
    routed = sorted((e for e in routed if not (e.copy_reason or e.handoff)), key=lambda e: e.case_id)
    if len({e.case_id for e in routed}) != len(routed):
        raise ValueError("record_routings takes at most one routing per case")
    if routed:
        await conn.execute(ROUTED, *(list(col) for col in zip(*(
            (e.case_id, e.received_at, e.affiliate, e.team, e.topic, e.kind, e.channel, e.origin, e.urgency,
             e.repeat, e.resolve_due, e.duplicate) for e in routed))))


async def record(conn: asyncpg.Connection, e: Event, at: datetime | None = None) -> None:
    """`at`: the event's time (its envelope's), for the events that carry none of their own (a transfer)."""
    if isinstance(e, CaseRouted):
        await record_routings(conn, [e])  # the office's copy (the same case) writes nothing
        return
    sql = SETS.get(type(e))
    if sql is None:
        return
    update = f"UPDATE feedback.case_facts SET {sql} WHERE case_id = $1"
    args = _args(e, at)
    if await conn.execute(update, e.case_id, *args) == "UPDATE 0":  # the event came before CaseRouted
        await conn.execute(UPSERT, e.case_id)
        await conn.execute(update, e.case_id, *args)
