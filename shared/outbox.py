"""Transactional outbox and its relay.

A service writes its outgoing events with `Outbox.add(conn, ...)` inside the same
transaction as the change they describe. The relay publishes pending rows to
JetStream with `Nats-Msg-Id` (JetStream drops a re-publish inside its duplicate
window) and deletes them: a row in the table is an event not yet published (JetStream
keeps the published ones). While NATS is down the rows wait; nothing is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from datetime import datetime

import asyncpg
from nats.js import JetStreamContext

from shared.cloudevents import Envelope, encode, envelope_for
from shared.events import Message
from shared.telemetry import inject

log = logging.getLogger(__name__)

# Runtime.publish_now: (message, event id) pairs published straight to JetStream, for events that
# are a pure function of the message being consumed (their ids derived from it), not through the outbox
PublishNow = Callable[[Sequence[tuple[Message, str]]], Awaitable[None]]


class PublishFailed(Exception):
    """JetStream did not take an event published straight away (NATS away or reconnecting, a
    stream without a quorum, no ack in time). Not a ConnectionError on purpose: consumers treat
    those as the database being away (shared/db.py: STORAGE_DOWN)."""

# The event ids of the outbox rows the current task has made since `watch_rows` (every row is made
# by `Outbox.row`, in this task or a task it started): the rows a consumer's batch takes with
# TAKE_OWN, which finds them by their unique event id rather than by scanning the pending rows.
# A batch that made none skips that round trip (the live-call and timeline consumers mostly make none).
_ROWS_MADE: ContextVar[list[str] | None] = ContextVar("moksori_outbox_rows_made", default=None)


def watch_rows() -> None:
    _ROWS_MADE.set([])


def rows_made() -> list[str]:
    """The event ids of the rows made since `watch_rows` (empty if it was not called)."""
    return _ROWS_MADE.get() or []


def case_events_held(schema: str, first: int) -> str:
    """The end of a statement that writes cases and their events at once: its CTE `c` returns the
    case ids it wrote; the events of those cases (five arrays from `$first`: case id, event id,
    subject, JSON headers, body; each case's in their order) go into the outbox, held for
    `$first+5` seconds (NULL: not held, for TAKE_OWN inside a transaction), and the statement
    returns their rows (id order) for Relay.dispatch. A case written before writes no events."""
    a = [f"${first + i}" for i in range(6)]
    return f"""), o AS (
    INSERT INTO {schema}.outbox (event_id, subject, headers, body, held_until)
    SELECT e.event_id, e.subject, e.headers::jsonb, e.body, clock_timestamp() + make_interval(secs => {a[5]}::float8)
    FROM unnest({a[0]}::uuid[], {a[1]}::text[], {a[2]}::text[], {a[3]}::text[], {a[4]}::bytea[]) WITH ORDINALITY
         AS e (case_id, event_id, subject, headers, body, n)
    JOIN c USING (case_id)
    ORDER BY e.n
    RETURNING id, event_id, subject, headers, body
)
SELECT * FROM o ORDER BY id"""


class Outbox:
    def __init__(self, schema: str, source: str, *, hold_s: float = 5.0) -> None:
        self.schema = schema
        self.source = source
        self.hold_s = hold_s  # how long a writer holds the rows it publishes itself (TAKE_OWN)
        self.INSERT = (f"INSERT INTO {schema}.outbox (event_id, subject, headers, body) "
                       "VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING")
        self.INSERT_MANY = (f"INSERT INTO {schema}.outbox (event_id, subject, headers, body) "
                            "SELECT e.event_id, e.subject, e.headers::jsonb, e.body FROM "
                            "unnest($1::text[], $2::text[], $3::text[], $4::bytea[]) AS e(event_id, subject, headers, body) "
                            "ON CONFLICT (event_id) DO NOTHING")
        # held rows (being published by the transaction that wrote them, see TAKE_OWN) are skipped
        # until their hold expires, unless their writer gave them back ($2: its dispatch failed)
        self.CLAIM_PENDING = (f"SELECT id, subject, headers, body FROM {schema}.outbox WHERE sent_at IS NULL "
                              "AND (held_until IS NULL OR held_until < now() OR id = ANY($2::bigint[])) "
                              "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED")
        # inside a transaction, before its commit: the rows it added itself ($1: the event ids it
        # wrote, found by the unique index; not the rows of its savepoints, whose xmin differs and
        # which the relay claims, nor rows another transaction wrote first), held for
        # Relay.dispatch once it has committed. The hold commits with them, so no relay claims
        # them in the moment between commit and publish.
        self.TAKE_OWN = (f"WITH own AS (UPDATE {schema}.outbox "
                         f"SET held_until = clock_timestamp() + make_interval(secs => {float(hold_s)}) "
                         "WHERE event_id = ANY($1::text[]) AND sent_at IS NULL "
                         "AND xmin = pg_current_xact_id_if_assigned()::xid "
                         "RETURNING id, subject, headers, body) SELECT * FROM own ORDER BY id")
        # a published row is deleted, not marked: a delete writes no new row version and no index
        # entries (marking `sent_at` did both, sent_at being in the pending index's predicate).
        # `sent_at` is set only by versions before shared migration 902 (housekeeping deletes those rows).
        self.DELETE_SENT = f"DELETE FROM {schema}.outbox WHERE id = ANY($1::bigint[])"
        self.COUNT_PENDING = f"SELECT count(*) FROM {schema}.outbox WHERE sent_at IS NULL"

    def row(self, msg: Message, *, id: str | None = None, time: datetime | None = None
            ) -> tuple[Envelope, tuple[str, str, dict, bytes]]:
        """The outbox row for a message, for callers that insert it in a statement of their own."""
        env, row = self.encoded(msg, id=id, time=time)
        made = _ROWS_MADE.get()
        if made is not None:
            made.append(env.id)
        return env, row

    def encoded(self, msg: Message, *, id: str | None = None, time: datetime | None = None
                ) -> tuple[Envelope, tuple[str, str, dict, bytes]]:
        """A message as (envelope, (event id, subject, headers, body)), as `row` makes it, for
        publishing it without the outbox (Runtime.publish_now)."""
        env = envelope_for(msg, source=self.source, id=id, time=time)
        subject, body, headers = encode(msg, env)
        return env, (env.id, subject, inject(headers), body)  # the trace continues where the event is consumed

    def columns(self, msgs: list[Message]) -> tuple[list[str], list[str], list[str], list[bytes]]:
        """Outbox rows as four parallel arrays (event ids, subjects, JSON headers, bodies), for a
        statement that inserts them with `unnest` together with the change they describe."""
        rows = [self.row(m)[1] for m in msgs]
        return ([r[0] for r in rows], [r[1] for r in rows], [json.dumps(r[2]) for r in rows], [r[3] for r in rows])

    async def add(self, conn: asyncpg.Connection, msg: Message, *, id: str | None = None,
                  time: datetime | None = None) -> Envelope:
        env, row = self.row(msg, id=id, time=time)
        await conn.execute(self.INSERT, *row)
        return env

    async def add_many(self, conn: asyncpg.Connection, msgs: list[Message]) -> None:
        """Several messages in one statement (one round trip), each with its own new event id."""
        await conn.execute(self.INSERT_MANY, *self.columns(msgs))


PUBLISH_TIMEOUT_S = 5.0  # how long a publish waits for JetStream's ack before it counts as failed
# nats-py's publish_async_max_pending (its default): a publish beyond it would wait for a free slot
ASYNC_PENDING_LIMIT = 4000


async def publish_each(js: JetStreamContext, msgs: Sequence[tuple[str, bytes, dict]],
                       timeout: float = PUBLISH_TIMEOUT_S) -> list[BaseException | None]:
    """Publishes every (subject, body, headers) at once and waits for all the acks: per message,
    None if JetStream acked it, or the error. `publish_async` puts them all on the wire without a
    task and a request timer each (a quarter less CPU per message than gathering `publish`); one
    wait bounds them all, and a publish not acked within `timeout` counts as failed (and is
    published again later: JetStream drops the copy if the first did land). With as many acks
    outstanding as nats-py allows, the rest fail at once instead of waiting for a slot (a wait with
    a timeout costs a task per message, and one without could wait on this call's own acks)."""
    errors: list[BaseException | None] = [None] * len(msgs)
    pending: list[tuple[int, asyncio.Future]] = []
    for i, (subject, body, headers) in enumerate(msgs):
        if js.publish_async_pending() >= ASYNC_PENDING_LIMIT:  # checked and taken with no await between
            errors[i] = ConnectionError(f"{ASYNC_PENDING_LIMIT} JetStream publishes already await their ack")
            continue
        try:
            pending.append((i, await js.publish_async(subject, body, headers=headers)))
        except Exception as exc:  # the connection is closed or reconnecting
            errors[i] = exc
    if pending:
        _, late = await asyncio.wait([f for _, f in pending], timeout=timeout)
        for f in late:
            f.cancel()
    for i, f in pending:
        if f.cancelled():
            errors[i] = asyncio.TimeoutError(f"no JetStream ack within {timeout:g} s")
        elif f.exception() is not None:
            errors[i] = f.exception()
    return errors


class Relay:
    def __init__(self, pool: asyncpg.Pool, js: JetStreamContext, outbox: Outbox, *,
                 batch: int = 500, idle_poll_s: float = 0.5, coalesce_s: float = 0.02) -> None:
        """After a flush that found nothing left to publish the relay waits at least `coalesce_s`,
        so the wake-ups and dispatches of a busy service (hundreds a second) share one flush's
        transaction instead of each paying for their own. Pending rows are looked for (a scan of
        the table) only when a writer says it left some (`wake`), when a dispatch failed, and
        every `idle_poll_s` for the rows of a writer that died before its dispatch; a flush after
        dispatches only deletes what they published."""
        self.pool, self.js, self.outbox = pool, js, outbox
        self.batch, self.idle_poll_s, self.coalesce_s = batch, idle_poll_s, coalesce_s
        self._wake = asyncio.Event()
        self._claim_due = True              # look for pending rows at the next flush
        self._next_claim = 0.0              # loop time by which the next look is due anyway
        self.published = 0
        self.dispatched = 0
        self.claims = 0                     # flushes that looked for pending rows
        self._to_delete: list[int] = []     # dispatched and published: deleted by the next flush
        self._given_back: set[int] = set()  # held rows whose dispatch failed: claimed despite the hold
        self._dispatching = 0               # dispatches under way, which drain() waits for
        self._no_dispatch = asyncio.Event()
        self._no_dispatch.set()

    def wake(self) -> None:
        """Called after a commit that added rows no dispatch covers, so publishing them does not
        wait for the poll."""
        self._claim_due = True
        self._wake.set()

    async def dispatch(self, rows: list) -> None:
        """Publishes the rows a transaction has just committed, held by it (Outbox.TAKE_OWN, or written
        held, as intake's group commit does), at once instead of leaving them for the relay's next
        claim: one hop's latency is the publish, not a second transaction as well. The rows stay
        pending, and held, until the relay's next flush deletes them; a row whose publish fails is
        given back to the relay, which retries. A crash before the deleting leaves them to any relay
        once the hold expires: published again with the same Nats-Msg-Id, so JetStream drops the
        copies (and consumers would, by their inbox)."""
        self._dispatching += 1
        self._no_dispatch.clear()
        try:
            sent, _ = await self._publish(rows)
        finally:
            self._dispatching -= 1
            if not self._dispatching:
                self._no_dispatch.set()
        self._given_back.update({r["id"] for r in rows} - set(sent))
        self._to_delete.extend(sent)
        self.dispatched += len(sent)
        self._wake.set()

    async def _publish(self, rows: list) -> tuple[list[int], BaseException | None]:
        """Publishes outbox rows at once: the ids that went out, and the first error if any did not."""
        errors = await publish_each(self.js, [(r["subject"], bytes(r["body"]), r["headers"]) for r in rows])
        sent = [r["id"] for r, error in zip(rows, errors) if error is None]
        return sent, next((error for error in errors if error is not None), None)

    async def flush_once(self, claim: bool = True) -> int:
        """Deletes what `dispatch` published, then (with `claim`) claims pending rows (not held,
        or given back), publishes them and deletes those that went out, all in one transaction.
        A publish that fails is raised after the commit, so it does not undo the deleting of the rest."""
        done, self._to_delete = self._to_delete, []
        if not claim:
            if done:
                try:
                    async with self.pool.acquire() as conn:
                        await conn.execute(self.outbox.DELETE_SENT, done)
                except BaseException:
                    self._to_delete.extend(done)  # still pending: deleted by a later flush
                    raise
            return 0
        self.claims += 1
        self._next_claim = asyncio.get_running_loop().time() + self.idle_poll_s
        sent: list[int] = []
        failure: ConnectionError | None = None
        committed = False
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                if done:
                    await conn.execute(self.outbox.DELETE_SENT, done)
                rows = await conn.fetch(self.outbox.CLAIM_PENDING, self.batch, list(self._given_back))
                if rows:
                    sent, first = await self._publish(rows)
                    if sent:
                        await conn.execute(self.outbox.DELETE_SENT, sent)
                    if first is not None:
                        failure = ConnectionError(f"{len(rows) - len(sent)} outbox publishes failed: {first!r}")
            committed = True
        finally:
            if not committed:  # rolled back: still pending, published again (JetStream drops the copies)
                self._to_delete.extend(done)
        self._given_back.difference_update(sent)
        if len(rows) < self.batch:  # every claimable row was seen: the others given back were sent elsewhere
            self._given_back.intersection_update(r["id"] for r in rows)
        self.published += len(sent)
        if failure:
            raise failure
        return len(sent)

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            claim = self._claim_due or bool(self._given_back) or loop.time() >= self._next_claim
            self._claim_due = False
            try:
                n = await self.flush_once(claim)
                backoff = 0.2
                if n:  # there may be more
                    self._claim_due = True
                    continue
            except (ConnectionError, OSError, asyncio.TimeoutError, asyncpg.PostgresError) as exc:
                self._claim_due = self._claim_due or claim
                log.warning("outbox relay waiting: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            except Exception:  # a relay must outlive surprises; the rows stay pending
                self._claim_due = self._claim_due or claim
                log.exception("outbox relay error")
                await asyncio.sleep(1.0)
                continue
            self._wake.clear()
            await asyncio.sleep(self.coalesce_s)
            if self._wake.is_set():
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), max(0.0, self._next_claim - loop.time()))
            except asyncio.TimeoutError:
                pass

    async def drain(self, timeout: float = 5.0) -> None:
        """Best effort at shutdown, once the dispatches under way have finished (so what they
        published is deleted); whatever is left is published by the next start."""
        try:
            async with asyncio.timeout(timeout):
                await self._no_dispatch.wait()
                while await self.flush_once():
                    pass
        except Exception as exc:
            log.warning("outbox not fully drained at shutdown (kept for next start): %r", exc)
