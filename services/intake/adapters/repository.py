"""Intake's Postgres access. SQL is kept here as named constants."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable

import asyncpg

from services.intake.domain.timeline import TimelineWrites

NEXT_TRACKING_SEQS = "SELECT nextval('intake.tracking_seq') FROM generate_series(1, $1)"

# Cases accepted in one statement, so one round trip and atomic on its own (in autocommit, its own
# transaction): each case, its outbox rows and its first timeline entry go in together, or (on a
# duplicate key) none of them does. A case's legacy key (u.legacy_key) is an HTTP Idempotency-Key as
# versions before its scoping stored it (raw, with submitted_by the key's name): a retry of a request
# they accepted finds that case instead of making a second. The outbox rows are written held ($27
# seconds; NULL: not held, the relay's or a consumer's TAKE_OWN's) for the writer to publish once
# the statement has committed. Back come a row per case inserted (case_id set), then a row per outbox
# row (id set). Arguments: `accept_columns`; called through `accept_cases`.
ACCEPT_CASES = """
WITH u AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::bytea[], $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[],
                         $14::timestamptz[], $15::timestamptz[], $16::text[], $17::text[], $18::text[],
                         $19::text[], $20::text[], $21::text[])
        AS u (id, tracking_code, channel, channel_message_id, idempotency_key, request_hash, text_masked,
              text_encrypted, customer_ref_masked, kind_hint, affiliate_hint, consent, occurred_at, received_at,
              first_response_due, response, submitted_by, first_event_id, message, detail, legacy_key)
), c AS (
    INSERT INTO intake.cases (id, tracking_code, channel, channel_message_id, idempotency_key, request_hash,
        text_masked, text_encrypted, customer_ref_masked, kind_hint, affiliate_hint, consent, status,
        status_rank, occurred_at, received_at, first_response_due, response, submitted_by, status_at)
    SELECT id, tracking_code, channel, channel_message_id, idempotency_key, request_hash, text_masked,
           text_encrypted, customer_ref_masked, kind_hint, affiliate_hint, consent::jsonb, 'received', 0,
           occurred_at, received_at, first_response_due, response::jsonb, submitted_by, received_at
    FROM u
    WHERE u.legacy_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM intake.cases l WHERE l.idempotency_key = u.legacy_key AND l.submitted_by = u.submitted_by)
    ON CONFLICT DO NOTHING
    RETURNING id, received_at
), o AS (
    INSERT INTO intake.outbox (event_id, subject, headers, body, held_until)
    SELECT e.event_id, e.subject, e.headers::jsonb, e.body, clock_timestamp() + make_interval(secs => $27)
    FROM unnest($22::uuid[], $23::text[], $24::text[], $25::text[], $26::bytea[]) WITH ORDINALITY
         AS e (case_id, event_id, subject, headers, body, n)
    JOIN c ON c.id = e.case_id
    ORDER BY e.n
    RETURNING id, subject, headers, body
), t AS (
    INSERT INTO intake.timeline (case_id, event_id, status, at, message, detail)
    SELECT c.id, u.first_event_id, 'received', c.received_at, u.message, u.detail::jsonb FROM c JOIN u ON u.id = c.id
)
SELECT c.id AS case_id, NULL::bigint AS id, NULL::text AS subject, NULL::jsonb AS headers, NULL::bytea AS body FROM c
UNION ALL
SELECT NULL, o.id, o.subject, o.headers, o.body FROM o"""


def accept_columns(batch: list[tuple], hold_s: float | None) -> list:
    """ACCEPT_CASES's arguments for cases each given as one tuple, as submit.submit_voc builds it."""
    cases = [[a[i] for a in batch] for i in range(17)]
    for i in (11, 15):  # consent, response: JSON text, cast to jsonb in the statement
        cases[i] = [json.dumps(v) for v in cases[i]]
    events = [(a[0], *e) for a in batch for e in zip(a[17], a[18], a[19], a[20])]
    return [*cases, [a[17][0] for a in batch], [a[21] for a in batch], [json.dumps(a[22]) for a in batch],
            [a[23] for a in batch], *([list(column) for column in zip(*events)] if events else [[]] * 5), hold_s]


async def accept_cases(conn: asyncpg.Connection | asyncpg.Pool, batch: list[tuple],
                       hold_s: float | None = None) -> tuple[set[uuid.UUID], list[asyncpg.Record]]:
    """The ids of the cases inserted (a case whose key already existed is not), and their outbox rows
    in the order written."""
    rows = await conn.fetch(ACCEPT_CASES, *accept_columns(batch, hold_s))
    inserted = {r["case_id"] for r in rows if r["case_id"] is not None}
    return inserted, sorted((r for r in rows if r["id"] is not None), key=lambda r: r["id"])


FIND_PRIOR = """
SELECT id, request_hash, response FROM intake.cases
WHERE ($1::text IS NOT NULL AND idempotency_key = $1)
   OR ($2::text IS NOT NULL AND channel = $3 AND channel_message_id = $2 AND submitted_by = $5)
   OR ($4::text IS NOT NULL AND idempotency_key = $4 AND submitted_by = $5)
LIMIT 1"""

# A batch of timeline events (domain/timeline.py: timeline_writes) in one statement, so one round trip
# (and, run on its own, its own transaction): the entries, and each case's status, the date the
# customer sees and the affiliate that has it, only for the cases intake knows of those named ($1),
# whose ids it returns. Events from several streams arrive in any order: the latest one (by event
# time) sets the status, the latest one that names a deadline sets the date, and the latest routing
# or transfer sets the affiliate (which scopes reveal keys). All in one UPDATE, so a case that gets
# several in a batch (a CaseRouted) gets one new row version, not two; a case with no status ($11
# NULL), no deadline ($13 NULL) or no affiliate ($15 NULL) in the batch keeps that part as it is.
WRITE_TIMELINE = """
WITH known AS (
    SELECT id FROM intake.cases WHERE id = ANY($1::uuid[])
), entries AS (
    INSERT INTO intake.timeline (case_id, event_id, status, at, message, detail)
    SELECT r.* FROM unnest($2::uuid[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::jsonb[])
                    AS r (case_id, event_id, status, at, message, detail)
    WHERE r.case_id IN (SELECT id FROM known)
    ON CONFLICT DO NOTHING
), advanced AS (
    UPDATE intake.cases c SET
        status = CASE WHEN u.status_at > c.status_at THEN u.status ELSE c.status END,
        status_rank = CASE WHEN u.status_at > c.status_at THEN u.rank ELSE c.status_rank END,
        updated_at = CASE WHEN u.status_at > c.status_at THEN now() ELSE c.updated_at END,
        status_at = GREATEST(c.status_at, u.status_at),
        expected_resolution = CASE WHEN u.due_at > coalesce(c.expected_resolution_at, '-infinity')
                                   THEN u.due ELSE c.expected_resolution END,
        expected_resolution_at = CASE WHEN u.due_at > coalesce(c.expected_resolution_at, '-infinity')
                                      THEN u.due_at ELSE c.expected_resolution_at END,
        affiliate = CASE WHEN u.owner_at > coalesce(c.affiliate_at, '-infinity') THEN u.owner ELSE c.affiliate END,
        affiliate_at = CASE WHEN u.owner_at > coalesce(c.affiliate_at, '-infinity')
                            THEN u.owner_at ELSE c.affiliate_at END
    FROM unnest($8::uuid[], $9::text[], $10::int[], $11::timestamptz[], $12::timestamptz[], $13::timestamptz[],
                $14::text[], $15::timestamptz[])
         AS u (id, status, rank, status_at, due, due_at, owner, owner_at)
    WHERE c.id = u.id
      AND (u.status_at > c.status_at OR u.due_at > coalesce(c.expected_resolution_at, '-infinity')
           OR u.owner_at > coalesce(c.affiliate_at, '-infinity'))
)
SELECT id FROM known"""

GET_CASE = """
SELECT id, tracking_code, channel, status, kind_hint, affiliate_hint, text_masked, received_at,
       first_response_due, expected_resolution, updated_at, purged_at, submitted_by
FROM intake.cases WHERE id = $1 OR tracking_code = $2"""

# affiliate: who has the case (WRITE_TIMELINE), NULL while intake does not know; a reveal key sees a case in its scope
GET_ORIGINAL = """
SELECT id, channel, affiliate, text_encrypted, purged_at FROM intake.cases WHERE id = $1 OR tracking_code = $2"""

INSERT_REVEAL_AUDIT = """
INSERT INTO intake.reveal_audit (case_id, key_name, reason, client_ip) VALUES ($1, $2, $3, $4)"""


# The originals past retention: the cases', and the calls' (segments, customer and summary) of
# those cases and of calls that never became a case (a call with an open case keeps them).
PURGE_ORIGINALS = """
WITH purged AS (
    UPDATE intake.cases
    SET text_encrypted = ''::bytea, customer_ref_encrypted = NULL, purged_at = now()
    WHERE purged_at IS NULL AND (status IN ('resolved', 'rated') OR $2 = 0)
      AND received_at < now() - make_interval(days => $1)
    RETURNING id
), old_calls AS (
    UPDATE intake.calls SET customer_encrypted = NULL, summary_encrypted = NULL
    WHERE case_id IN (SELECT id FROM purged)
       OR (case_id IS NULL AND ended_at < now() - make_interval(days => $1))
    RETURNING call_id
), old_segments AS (
    DELETE FROM intake.call_segments s
    WHERE s.call_id IN (SELECT call_id FROM old_calls)
       OR (s.ts < now() - make_interval(days => $1)  -- a call whose end never came
           AND NOT EXISTS (SELECT 1 FROM intake.calls c WHERE c.call_id = s.call_id))
)
SELECT id FROM purged"""

GET_TIMELINE = "SELECT status, at, message, detail FROM intake.timeline WHERE case_id = $1 ORDER BY at, status"


class TrackingNumbers:
    """Tracking-code numbers taken from the sequence in blocks: one round trip per
    block instead of per case. Codes stay unique; a restart leaves a gap.

    One block is fetched at a time: requests that find the block used up while it is being
    refilled wait for that refill rather than each fetching (and discarding) a block of their own."""

    def __init__(self, block: int = 200) -> None:
        self.block = block
        self._free: list[int] = []
        self._refill = asyncio.Lock()
        self.fetches = 0

    async def next(self, conn: asyncpg.Connection | asyncpg.Pool) -> int:
        if not self._free:
            async with self._refill:
                if not self._free:  # another request may have refilled it while this one waited
                    self._free = [r[0] for r in await conn.fetch(NEXT_TRACKING_SEQS, self.block)][::-1]
                    self.fetches += 1
        return self._free.pop()


async def find_prior(conn: asyncpg.Connection, idempotency_key: str | None, channel: str,
                     channel_message_id: str | None, legacy_key: str | None = None,
                     submitted_by: str | None = None) -> asyncpg.Record | None:
    if idempotency_key is None and channel_message_id is None:
        return None
    return await conn.fetchrow(FIND_PRIOR, idempotency_key, channel_message_id, channel, legacy_key, submitted_by)


async def write_timeline(conn: asyncpg.Connection, w: TimelineWrites,
                         cases: Iterable[uuid.UUID] | None = None) -> set[uuid.UUID]:
    """The entries and the cases' status, date and affiliate (WRITE_TIMELINE), for those of `cases` (by
    default the cases the writes name) that intake knows: their ids."""
    # in id order, so replicas lock rows in one order
    ids = sorted(w.statuses.keys() | w.deadlines.keys() | w.owners.keys())
    none3, none2 = (None, None, None), (None, None)
    advances = [list(col) for col in zip(*((*w.statuses.get(i, none3), *w.deadlines.get(i, none2),
                                            *w.owners.get(i, none2)) for i in ids))]
    entries = [list(col) for col in zip(*w.rows)]
    named = {r[0] for r in w.rows} | set(ids) if cases is None else set(cases)
    rows = await conn.fetch(WRITE_TIMELINE, list(named), *(entries or [[]] * 6), ids, *(advances or [[]] * 7))
    return {r[0] for r in rows}


def ref_args(ref: str) -> tuple[uuid.UUID | None, str | None]:
    """A case is named by its id or its tracking code; each lookup uses its own index."""
    try:
        return uuid.UUID(ref), None
    except ValueError:
        return None, ref
