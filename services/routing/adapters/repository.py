"""Routing's Postgres access: SQL as named constants, rows as domain state."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from services.routing.domain.lifecycle import CaseState
from shared.events import Event
from shared.outbox import case_events_held

# Cases and their outbox rows in one statement (one round trip), a fetched batch or a single case;
# a case routed before (a redelivered event) is not written again, nor are its events. Each case's
# events follow it, in their order. Flags travel comma-joined: unnest cannot take an array of arrays
# of different lengths. Run on its own (autocommit), the events are written held for $29 seconds and
# returned, for Relay.dispatch; inside a transaction $29 is NULL (not held: TAKE_OWN takes them).
# See shared/outbox.py: case_events_held.
ROUTE_CASES = """
WITH c AS (
    INSERT INTO routing.cases (case_id, tracking_code, channel, affiliate, team, kind, topic, urgency, flags,
        copied_to_cpo, status, received_at, ack_due, resolve_due, origin, warn_fraction, warn_at,
        warned_at, breached_at, ack_breached_at, customer_category, text, customer_ref, came_via, cross_affiliate,
        repeated, duplicate)
    SELECT r.case_id, r.tracking_code, r.channel, r.affiliate, r.team, r.kind, r.topic, r.urgency,
           string_to_array(r.flags, ','), r.copied, 'routed', r.received_at, r.ack_due, r.resolve_due, r.origin,
           r.warn_fraction, w.warn_at,
           -- a backfilled case (VocReceived.backfill): deadlines already past when it is routed are marked
           -- as passed, at their own time, so the sweeper raises no warning or breach for them
           CASE WHEN r.backfill AND w.warn_at <= now() THEN w.warn_at END,
           CASE WHEN r.backfill AND r.resolve_due <= now() THEN r.resolve_due END,
           CASE WHEN r.backfill AND r.ack_due <= now() THEN r.ack_due END,
           r.customer_category, r.text, r.customer_ref, r.came_via, r.cross_affiliate, r.repeated, r.duplicate
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                $9::text[], $10::boolean[], $11::timestamptz[], $12::timestamptz[], $13::timestamptz[], $14::text[],
                $15::real[], $16::boolean[], $17::text[], $18::text[], $19::text[], $20::text[], $21::boolean[],
                $22::boolean[], $23::boolean[])
         AS r (case_id, tracking_code, channel, affiliate, team, kind, topic, urgency, flags, copied, received_at,
               ack_due, resolve_due, origin, warn_fraction, backfill, customer_category, text, customer_ref,
               came_via, cross_affiliate, repeated, duplicate),
         LATERAL (SELECT r.received_at + (r.resolve_due - r.received_at) * r.warn_fraction AS warn_at) w
    ON CONFLICT (case_id) DO NOTHING
    RETURNING case_id
""" + case_events_held("routing", 24)

LOCK_CASE = """
SELECT case_id, tracking_code, affiliate, team, channel, status, kind, topic, received_at, resolve_due, paused_at,
       extended, handler_name, acknowledged_at, resolution, review_outcome, review_category, reopened_count,
       warn_fraction, flags, customer_category, urgency, origin, text, customer_ref, came_via, cross_affiliate,
       repeated, duplicate, handler_contact, status_before_pause, ack_due, info_requested
FROM routing.cases WHERE case_id = $1 FOR UPDATE"""

# Columns a lifecycle decision may change; anything else is a programming error.
MUTABLE = ("status", "acknowledged_at", "handler_name", "handler_contact", "paused_at", "status_before_pause",
           "resolve_due", "extended", "extension_reason", "affiliate", "team", "resolved_at", "resolution",
           "outcome", "reopened_count", "kind", "topic", "review_outcome", "review_reason", "review_category",
           "warn_at", "warned_at", "breached_at", "clock_start", "ack_due", "ack_breached_at", "info_requested")

INSERT_LOG = "INSERT INTO routing.case_log (case_id, event, data, staff_id) VALUES ($1, $2, $3, $4)"

GET_CASE = """
SELECT case_id, tracking_code, channel, affiliate, team, kind, topic, urgency, flags, copied_to_cpo, origin,
       status, received_at, routed_at, ack_due, resolve_due, warn_at, warned_at, breached_at, ack_breached_at,
       paused_at, info_requested, extended, extension_reason, acknowledged_at, handler_name, handler_contact,
       resolved_at, resolution, outcome, reopened_count, review_outcome, review_reason, review_category,
       customer_category
FROM routing.cases WHERE case_id = $1"""

GET_LOG = "SELECT event, data, at, staff_id FROM routing.case_log WHERE case_id = $1 ORDER BY id"
# who looked at a case, for the consumer-protection office's access audit (seed 003)
RECORD_READ = "INSERT INTO routing.case_reads (case_id, affiliate, staff_id) VALUES ($1, $2, $3)"
GET_READS = "SELECT affiliate, staff_id, at FROM routing.case_reads WHERE case_id = $1 ORDER BY id"
# `moksori audit`: an employee's reads and steps, or everything done to one case, in a time window.
# $1 staff (or NULL), $2 case (or NULL), [$3, $4) the window, $5 the most rows. A case's audit also shows
# the services' own steps (no employee); an employee's shows only theirs.
AUDIT_TRAIL = """
SELECT * FROM (
    SELECT r.at, r.staff_id, 'read' AS action, r.affiliate AS via, r.case_id, c.tracking_code
    FROM routing.case_reads r JOIN routing.cases c USING (case_id)
    WHERE ($1::text IS NULL OR r.staff_id = $1) AND ($2::uuid IS NULL OR r.case_id = $2)
      AND r.at >= $3 AND r.at < $4
    UNION ALL
    SELECT l.at, l.staff_id, l.event, NULL, l.case_id, c.tracking_code
    FROM routing.case_log l JOIN routing.cases c USING (case_id)
    WHERE (l.staff_id = $1 OR ($1::text IS NULL AND l.case_id = $2))
      AND ($2::uuid IS NULL OR l.case_id = $2) AND l.at >= $3 AND l.at < $4
) trail ORDER BY at LIMIT $5"""

# The sweeper: each due mark is claimed once (SKIP LOCKED across replicas, the mark set
# in the same transaction as the outbox rows).
DUE_WARNINGS = """
SELECT case_id, tracking_code, affiliate, team, resolve_due FROM routing.cases
WHERE warned_at IS NULL AND status IN ('routed', 'acknowledged') AND warn_at <= $1
ORDER BY warn_at LIMIT $2 FOR UPDATE SKIP LOCKED"""
DUE_BREACHES = """
SELECT case_id, tracking_code, affiliate, team, resolve_due FROM routing.cases
WHERE breached_at IS NULL AND status IN ('routed', 'acknowledged') AND resolve_due <= $1
ORDER BY resolve_due LIMIT $2 FOR UPDATE SKIP LOCKED"""
DUE_ACK_BREACHES = """
SELECT case_id, tracking_code, affiliate, team, ack_due FROM routing.cases
WHERE ack_breached_at IS NULL AND status = 'routed' AND acknowledged_at IS NULL AND ack_due <= $1
ORDER BY ack_due LIMIT $2 FOR UPDATE SKIP LOCKED"""
MARK_WARNED = "UPDATE routing.cases SET warned_at = $2 WHERE case_id = ANY($1::uuid[])"
MARK_BREACHED = "UPDATE routing.cases SET breached_at = $2 WHERE case_id = ANY($1::uuid[])"
MARK_ACK_BREACHED = "UPDATE routing.cases SET ack_breached_at = $2 WHERE case_id = ANY($1::uuid[])"


async def lock_case(conn: asyncpg.Connection, case_id: UUID) -> CaseState | None:
    row = await conn.fetchrow(LOCK_CASE, case_id)
    return CaseState(**{**dict(row), "flags": tuple(row["flags"])}) if row else None


async def save(conn: asyncpg.Connection, case_id: UUID, changes: dict, event: Event,
               staff_id: str | None = None) -> None:
    """The case's changed columns, and the step in its log with the employee who took it (None: a service)."""
    bad = set(changes) - set(MUTABLE)
    if bad:
        raise ValueError(f"not a mutable case column: {sorted(bad)}")
    cols = list(changes)
    sets = [f"{c} = ${i + 2}" for i, c in enumerate(cols)]
    if "resolve_due" in changes and "warn_at" not in changes:
        # the warning stays at its share of the time to the new deadline, from where the clock started
        # (the receipt, or the reopening: migration 009)
        due, start = f"${cols.index('resolve_due') + 2}::timestamptz", "coalesce(clock_start, received_at)"
        sets.append(f"warn_at = {start} + ({due} - {start}) * warn_fraction")
    await conn.execute(f"UPDATE routing.cases SET {', '.join(sets)} WHERE case_id = $1",
                       case_id, *(changes[c] for c in cols))
    await conn.execute(INSERT_LOG, case_id, type(event).__name__, event.model_dump(mode="json"), staff_id)

# a team's HTTP command with an Idempotency-Key (migration 010): claimed in the command's transaction,
# before the case is locked; a concurrent retry with the same key waits on the claim's unique index
# until the first commits (then finds its answer) or rolls back (then claims it itself)
CLAIM_COMMAND_KEY = ("INSERT INTO routing.command_keys (caller, key, command) VALUES ($1, $2, $3) "
                     "ON CONFLICT DO NOTHING RETURNING 1")
COMMAND_KEY = "SELECT command, answer FROM routing.command_keys WHERE caller = $1 AND key = $2"
ANSWER_COMMAND_KEY = "UPDATE routing.command_keys SET answer = $3::jsonb WHERE caller = $1 AND key = $2"

CASES_BY_STATUS = "SELECT status, count(*) AS n FROM routing.cases GROUP BY status"  # for /metrics
