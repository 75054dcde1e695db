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
    topic = COALESCE(feedback.case_facts.topic, EXCLUDED.topic),
    kind = COALESCE(feedback.case_facts.kind, EXCLUDED.kind),
    channel = EXCLUDED.channel, origin = EXCLUDED.origin, urgency = EXCLUDED.urgency, repeat = EXCLUDED.repeat,
    duplicate = EXCLUDED.duplicate,
    resolve_due = COALESCE(feedback.case_facts.resolve_due, EXCLUDED.resolve_due)"""

UPSERT = """
INSERT INTO feedback.case_facts (case_id) VALUES ($1) ON CONFLICT (case_id) DO NOTHING"""

# Events come late and in any order (a nak'd message is redelivered after later ones): each fact below is set
# by the event's time, so it comes out as the events' order in time leaves it, and an event applied again
# changes nothing. Routing decides a case's steps one at a time under its row lock, so their times (an event's
# own, or its envelope's) are in that order. `{t}`: the event's time; NULL (a caller that does not know it)
# applies the event as the latest one, its time not kept.

# A case waiting for the customer's documents has its SLA clock stopped (routing's lifecycle): CaseInfoRequested
# pauses it; CaseInfoProvided, a transfer and the resolution run it again (migration 011). A pause counts only
# if it began after the latest end (`pause_ended_at`), and an end clears only a pause that began before it:
# the case is paused exactly when its latest CaseInfoRequested is later than its latest end.
ENDS_PAUSE = ("pause_ended_at = greatest(pause_ended_at, {t}), "
              "paused_at = CASE WHEN paused_at > {t} THEN paused_at END")
# The deadline is the one set by the latest of the events that set one (CaseInfoProvided, CaseTransferred,
# CaseExtended, CaseReopened; migration 012): `resolve_due_at` keeps that event's time, and an earlier one (a
# late CaseExtended from before a reopening) leaves the deadline. The routing's deadline is earlier than all
# of them (ROUTED fills only an empty one). `{due}` NULL: the event sets none (a CaseReopened from an older
# routing).
SETS_DUE = ("resolve_due = CASE WHEN {due} IS NOT NULL AND ({t} IS NULL OR {t} >= coalesce(resolve_due_at, "
            "'-infinity')) THEN {due} ELSE resolve_due END, "
            "resolve_due_at = CASE WHEN {due} IS NOT NULL THEN greatest(resolve_due_at, {t}) ELSE resolve_due_at END")
# A resolution counts when no CaseReopened came after it, as a reopening clears only an earlier resolution;
# of two (a case resolved, reopened and resolved again), the later one's time and SLA verdict stand.
RESOLVES = "{t} > coalesce(reopened_at, '-infinity') AND {t} >= coalesce(resolved_at, '-infinity')"
# As routing's ReopenCase does, a reopening takes back the extension, and the fresh deadline may be extended
# once more: the case is extended when its latest CaseExtended is later than its latest CaseReopened. The
# report's 연장 so counts the cases whose current deadline (since the latest reopening) was extended, as its
# resolved and within-SLA counts are of their latest resolution. Extensions and reopenings recorded before
# migration 012 have no time (NULL): earlier than any recorded after it.
EXTENDS = ("extended_at = greatest(extended_at, {t}), "
           "extended = {t} IS NULL OR greatest(extended_at, {t}) > coalesce(reopened_at, '-infinity')")
REOPENS = ("reopened_at = greatest(reopened_at, {t}), "
           "extended = {t} IS NOT NULL AND coalesce(extended_at > greatest(reopened_at, {t}), false), "
           "resolved_at = CASE WHEN resolved_at > {t} THEN resolved_at END, "
           "within_sla = CASE WHEN resolved_at > {t} THEN within_sla END")
# typed: a parameter only ever compared with NULL has no type PostgreSQL can infer
DUE_2, DUE_4, AT_3, AT_4, AT_5 = ("$2::timestamptz", "$4::timestamptz", "$3::timestamptz", "$4::timestamptz",
                                  "$5::timestamptz")


def latest(when: str, t: str, **values: str) -> str:
    """The columns set to `values` by the latest in time of one kind of event, `when` keeping its time: the
    affiliate and team are the latest transfer's, the kind and topic the latest reclassification's (migration
    013), and an earlier one, late, leaves them. The routing's are earlier than all of them (ROUTED fills only
    empty ones: a transfer or reclassification that came before its CaseRouted keeps what it set)."""
    later = f"({t} IS NULL OR {t} >= coalesce({when}, '-infinity'))"
    return ", ".join([f"{col} = CASE WHEN {later} THEN {v} ELSE {col} END" for col, v in values.items()]
                     + [f"{when} = greatest({when}, {t})"])


SETS = {
    # the first acknowledgement, as routing keeps it
    CaseAcknowledged: "acknowledged_at = least(acknowledged_at, $2)",
    CaseResolved: f"resolved_at = CASE WHEN {RESOLVES.format(t='$2')} THEN $2 ELSE resolved_at END, "
                  f"within_sla = CASE WHEN {RESOLVES.format(t='$2')} THEN $3 ELSE within_sla END, "
                  + ENDS_PAUSE.format(t="$2"),
    # $3: the extension's time (its event's)
    CaseExtended: EXTENDS.format(t=AT_3) + ", " + SETS_DUE.format(due=DUE_2, t=AT_3),
    CaseInfoRequested: "paused_at = CASE WHEN $2 > coalesce(pause_ended_at, '-infinity') "
                       "THEN greatest(paused_at, $2) ELSE paused_at END",
    # the deadline moved by the pause
    CaseInfoProvided: SETS_DUE.format(due=DUE_2, t=AT_3) + ", " + ENDS_PAUSE.format(t="$3"),
    # $5: the transfer's time (its event's); without it, a pause known now ends
    CaseTransferred: latest("transferred_at", AT_5, affiliate="$2", team="$3") + ", "
                     + SETS_DUE.format(due=DUE_4, t=AT_5) + ", " + ENDS_PAUSE.format(t="coalesce($5, paused_at)"),
    # $4: the reclassification's time (its event's)
    CaseReclassified: latest("reclassified_at", AT_4, kind="$2", topic="$3"),
    # $3: the reopening's time (its event's); redelivered, it is not counted twice: the inbox keeps every
    # event id the consumer took for longer than a stream keeps a message (shared/consumer.py)
    CaseReopened: "reopened = reopened + 1, " + REOPENS.format(t=AT_3) + ", " + SETS_DUE.format(due=DUE_2, t=AT_3),
    SuggestionReviewed: "suggestion_outcome = $2, suggestion_category = $3, reviewed_at = $4",
}


def _args(e: Event, at: datetime | None) -> tuple:
    match e:
        case CaseAcknowledged():
            return (e.acknowledged_at,)
        case CaseResolved():
            return (e.resolved_at, e.within_sla)
        case CaseExtended():
            return (e.resolve_due, at)
        case CaseInfoRequested():
            return (e.paused_at,)
        case CaseInfoProvided():
            return (e.resolve_due, e.resumed_at)
        case CaseTransferred():
            return (e.affiliate, e.team, e.resolve_due, at)
        case CaseReclassified():
            return (e.kind, e.topic, at)
        case CaseReopened():
            return (e.resolve_due, at)
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
    """`at`: the event's time (its envelope's), for the events that carry none of their own (a transfer, an
    extension, a reopening, a reclassification)."""
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
