"""Idempotent, batch-at-a-time JetStream consumers with a dead-letter subject.

FastStream pulls a batch from a durable pull consumer; this module decides each
message's fate:
- malformed (bad CloudEvent, invalid body) or `Unprocessable`: published, personal data
  masked, to `voc.dlq.<consumer>`, logged, and terminated, so it is never redelivered forever;
- processed: `(consumer, ce-id)` (ce-source + ce-id for an outside system's event,
  `inbox_key`) is recorded in the service's inbox table in the
  same transaction as the effect, then acked; a redelivery finds the inbox row and
  is acked without a second effect or a second outgoing event;
- transient failure: nak with backoff, dead-lettered once max_deliver is reached.

A process may declare two things about a message, so the consumer does less for it:
- `no_effect(d)`: it would do nothing with it (most turns of a live call): acked at once, with no
  transaction and no inbox row;
- `idempotent(d)`: its effect is keyed so that applying it again changes nothing (a case written
  once under its id): processed with no inbox row. Either must hold for every redelivery too.

Every dead letter also raises an `AlertRaised` (reason `dead_letter`, on
`voc.alert.group.dead_letter`; a team's refused command on `voc.alert.<affiliate>.dead_letter`, for that
affiliate's supervisors), so operators hear about it without watching the DLQ.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
import nats.errors
from opentelemetry import trace
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from shared import db
from shared.bus import ConsumerSpec, commanding_affiliate, dlq_subject
from shared.cloudevents import Envelope, MalformedMessage, decode, encode, envelope_for
from shared.events import AlertRaised, Message
from shared.outbox import Relay, rows_made, watch_rows
from shared.pii import mask_payload, mask_text
from shared.telemetry import extract, log_context, tracer

log = logging.getLogger(__name__)

DEAD_LETTER = "dead_letter"
T = TypeVar("T")
# PostgreSQL away: a consumer holds what it fetched and looks again after these pauses (doubling)
HOLD_FIRST_PAUSE_S = 0.5
HOLD_MAX_PAUSE_S = 5.0
PROBE = "SELECT 1"
PROBE_TIMEOUT_S = 2.0  # a probe not answered in this time (a silent partition) counts as the database away
# a batch or message held this many times (the database came back, and the retry lost it again: a
# flapping server, a message that crashes it, or an error that only looks like an outage) is then
# handled as failing: retried with backoff, at last dead-lettered, not held for ever
MAX_HOLDS = 5


class Unprocessable(Exception):
    """The message is well-formed but can never succeed (for example a rating out of range)."""


class LetGo(Exception):
    """The process is stopping while it holds messages through a database outage: they are left
    unacked, and JetStream delivers them again to whichever consumer pulls next."""


@dataclass(frozen=True)
class Delivery:
    env: Envelope
    msg: Message
    raw: Msg


Process = Callable[[asyncpg.Connection, Delivery], Awaitable[None]]
BulkProcess = Callable[[asyncpg.Connection, list[Delivery]], Awaitable[list[Delivery]]]
# (connection in autocommit, messages, hold in seconds) -> (the messages left, the outbox rows written held)
OneStatement = Callable[[asyncpg.Connection, list[Delivery], float], Awaitable[tuple[list[Delivery], list]]]


def inbox_key(env: Envelope) -> str:
    """What the inbox records a processed event under. A CloudEvent is unique by source and id
    together: the services' own ids are UUIDs (recorded as they are), but two partner systems
    may both send a `ce-id` of "evt-1"."""
    return env.id if env.source.startswith("moksori/") else f"{env.source} {env.id}"


def _header_safe(text: str) -> str:
    return " ".join(text.split())[:500]


class IdempotentConsumer:
    def __init__(self, spec: ConsumerSpec, *, schema: str, pool: asyncpg.Pool, js: JetStreamContext,
                 expect: tuple[type[Message], ...], process: Process,
                 after_commit: Callable[[], None] | None = None,
                 redact: Callable[[bytes], bytes] | None = None, metrics=None, relay: Relay | None = None,
                 stopping: asyncio.Event | None = None) -> None:
        """`redact` rewrites a payload before it is dead-lettered; by default its personal data
        is masked (`pii.mask_payload`), whatever the consumer (a DLQ copy is kept for days). With a
        `relay`, the outbox rows a batch's transaction adds are published as soon as it commits
        (Relay.dispatch), before the batch is acked. `stopping` is set when the process shuts
        down: messages held through a database outage are then let go at once."""
        self.spec, self.pool, self.js = spec, pool, js
        self.stopping = stopping or asyncio.Event()  # never set unless the process passes its own
        self._held: list[Msg] = []  # the batch being handled
        self.relay = relay
        self.redact = redact or mask_payload
        self.metrics = metrics
        self.expect, self.process, self.after_commit = expect, process, after_commit
        # a process may look at the whole fetched batch first (the classifier classifies it at once)
        self.prepare: Callable[[list[Delivery]], None] | None = getattr(process, "prepare", None)
        # and may apply the claimed messages it knows how to bulk-write in one statement (intake's
        # call segments); it returns those it left for `process`, one at a time
        self.bulk: BulkProcess | None = getattr(process, "bulk", None)
        # and may tell the messages it would do nothing with (no write, no event), which are acked
        # without a transaction: an inbox row only guards an effect against a redelivery, and
        # most turns of a live call have nothing for screening to record
        self.no_effect: Callable[[Delivery], bool] | None = getattr(process, "no_effect", None)
        # and may tell the messages whose effect is idempotent by itself (intake stores a call
        # segment under its call and seq, once): they are processed without an inbox row
        self.idempotent: Callable[[Delivery], bool] | None = getattr(process, "idempotent", None)
        # and may write those in one statement that is its own transaction (`one_statement`, run in
        # autocommit): one round trip for them instead of four (BEGIN, the statement, TAKE_OWN,
        # COMMIT). The statement writes their outbox rows already held for `hold_s` and returns them,
        # for Relay.dispatch, as TAKE_OWN would; the messages it leaves go through a transaction
        self.one_statement: OneStatement | None = getattr(process, "one_statement", None) if relay else None
        # and may refuse a well-formed message that is not its sender's to send (a partner passing as
        # another): the reason, and it is dead-lettered at once, never processed nor retried
        self.refuse: Callable[[Delivery], str | None] | None = getattr(process, "refuse", None)
        self.name = f"{spec.stream}:{spec.durable}"
        self.schema = schema
        self.CLAIM = (f"INSERT INTO {schema}.inbox (consumer, event_id) VALUES ($1, $2) "
                      "ON CONFLICT DO NOTHING RETURNING 1")
        self.CLAIM_MANY = (f"INSERT INTO {schema}.inbox (consumer, event_id) SELECT $1, unnest($2::text[]) "
                           "ON CONFLICT DO NOTHING RETURNING event_id")
        self.processed = 0
        self.duplicates = 0
        self.dead_lettered = 0

    async def handle(self, raws: list[Msg]) -> None:
        self._held = raws  # what `_hold` keeps in progress through an outage
        try:
            await self._handle(raws)
        except LetGo:
            left = [raw for raw in raws if not raw.is_acked]
            log.warning("%s: stopping during a database outage; %d message(s) handed back for redelivery",
                        self.name, len(left))
            for raw in left:
                try:
                    await raw.nak()  # to another replica at once, rather than after ack_wait
                except Exception:  # NATS away as well: redelivered after ack_wait
                    pass
        finally:
            self._held = []

    async def _handle(self, raws: list[Msg]) -> None:
        good: list[Delivery] = []
        for raw in raws:
            try:
                env, msg = decode(raw.headers, raw.data, self.expect)
            except MalformedMessage as exc:
                await self.dead_letter(raw, f"malformed: {exc}")
                continue
            d = Delivery(env, msg, raw)
            reason = self.refuse(d) if self.refuse else None
            if reason:  # before any transaction: one refused event does not roll back its batch
                await self.dead_letter(raw, f"refused: {reason}")
                continue
            good.append(d)
        quiet: list[Delivery] = []
        if self.no_effect and good:
            quiet, good = self._split_quiet(good)
        if good:
            await self._apply_batch(good)
        if quiet:  # after the others: a turn that raises an alert does not wait for these acks
            self.processed += len(quiet)
            self._count()
            for d in quiet:
                await d.raw.ack()

    async def _apply_batch(self, good: list[Delivery]) -> None:
        async def attempt() -> tuple[int, list, list]:
            if self.prepare:  # again on a retry: what a failed attempt took from it is back
                try:
                    self.prepare(good)
                except Exception:  # each message is then handled on its own, and fails there if it must
                    log.exception("%s: preparing a batch of %d failed", self.name, len(good))
            watch_rows()
            return await self._transact_batch(good)

        try:
            applied, made, own = await self._through_outages(attempt, len(good))
        except Exception:
            for d in good:  # isolate the bad one: retry each on its own
                await self._one(d)
            return
        self.processed += applied
        self.duplicates += len(good) - applied
        if len(own) < len(made):  # rows it did not take (or already there): the relay looks for them
            self._committed()
        if own:
            await self.relay.dispatch(own)  # type: ignore[union-attr]
        self._count()
        for d in good:
            await d.raw.ack()

    async def _transact_batch(self, good: list[Delivery]) -> tuple[int, list, list]:
        """The batch: what `one_statement` writes on its own, the rest in one transaction: (messages
        applied, outbox rows made, rows it took to publish)."""
        free = [self._idempotent(d) for d in good]
        applied = 0
        if self.one_statement and any(free):
            alone = [d for d, f in zip(good, free) if f]
            # one message keeps its own trace (its case's); a batch is one span linked to each
            with self._span(alone[0]) if len(alone) == 1 else self._batch_trace(alone):
                async with self.pool.acquire() as conn:
                    left, own = await self.one_statement(conn, alone, self.relay.outbox.hold_s)  # type: ignore
                log.debug("%s: processed %d in one statement", self.name, len(alone) - len(left))
            if not left and len(alone) == len(good):
                return len(alone), rows_made(), own
            applied = len(alone) - len(left)
            left_ids = set(map(id, left))
            keep = [not f or id(d) in left_ids for d, f in zip(good, free)]
            good, free = [d for d, k in zip(good, keep) if k], [f for f, k in zip(free, keep) if k]
            if own:  # committed: published now, whatever becomes of the rest's transaction
                await self.relay.dispatch(own)  # type: ignore[union-attr]
            watch_rows()  # the rows the transaction makes (those above were dispatched)
        async with self.pool.acquire() as conn, conn.transaction():
            # one round trip claims the whole batch (but the idempotent); a claimed id is processed once
            to_claim = [inbox_key(d.env) for d, f in zip(good, free) if not f]
            claimed = {r[0] for r in await conn.fetch(self.CLAIM_MANY, self.name, to_claim)} if to_claim else set()
            todo = []
            for d, f in zip(good, free):
                if f:
                    todo.append(d)
                elif (key := inbox_key(d.env)) in claimed:
                    claimed.discard(key)  # the same id twice in one batch is processed once
                    todo.append(d)
            applied += len(todo)
            if self.bulk and todo:
                with self._batch_trace(todo):
                    todo = await self.bulk(conn, todo)
            for d in todo:
                with self._span(d):
                    await self.process(conn, d)
                    log.debug("%s: processed %s", self.name, d.env.type)
            made = rows_made()
            own = await conn.fetch(self.relay.outbox.TAKE_OWN, made) if self.relay and applied and made else []
        return applied, made, own

    def _split_quiet(self, ds: list[Delivery]) -> tuple[list[Delivery], list[Delivery]]:
        """(the messages `no_effect` says need nothing, the rest); one it cannot judge is processed."""
        quiet, rest = [], []
        for d in ds:
            try:
                nothing = self.no_effect(d)  # type: ignore[misc]
            except Exception:
                log.exception("%s: no_effect failed on %s; processing it", self.name, d.env.id)
                nothing = False
            (quiet if nothing else rest).append(d)
        return quiet, rest

    def _idempotent(self, d: Delivery) -> bool:
        """Whether `idempotent` says so; one it cannot judge is claimed, as any other message."""
        if self.idempotent is None:
            return False
        try:
            return bool(self.idempotent(d))
        except Exception:
            log.exception("%s: idempotent failed on %s; claiming it", self.name, d.env.id)
            return False

    async def _apply(self, d: Delivery) -> bool:
        """One message in its own transaction; False if its id was claimed before (a duplicate)."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not self._idempotent(d) and await conn.fetchval(self.CLAIM, self.name, inbox_key(d.env)) is None:
                return False
            with self._span(d):
                await self.process(conn, d)
                log.debug("%s: processed %s", self.name, d.env.type)
        return True

    @contextmanager
    def _span(self, d: Delivery) -> Iterator[None]:
        """A consumer span in the trace the event carries (its `traceparent`); log lines written
        while the event is processed carry its case id, ce-id and type."""
        with log_context(case_id=d.env.subject, ce_id=d.env.id, ce_type=d.env.type), self._trace(d):
            yield

    def _batch_trace(self, ds: list[Delivery]):
        """One consumer span for what a bulk path writes at once, linked to each message's trace
        (OpenTelemetry's way for batches); the events it adds to the outbox continue from it."""
        links = []
        for d in ds:
            ctx = trace.get_current_span(extract(d.raw.headers)).get_span_context()
            if ctx.is_valid:
                links.append(trace.Link(ctx))
        return tracer.start_as_current_span(
            f"{self.name} process batch", kind=trace.SpanKind.CONSUMER, links=links,
            attributes={"messaging.system": "nats", "messaging.batch.message_count": len(ds)})

    def _trace(self, d: Delivery):
        return tracer.start_as_current_span(
            f"{self.name} process", context=extract(d.raw.headers), kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.system": "nats", "messaging.destination.name": d.raw.subject,
                        "cloudevents.event_id": d.env.id, "cloudevents.event_type": d.env.type,
                        "moksori.case_id": d.env.subject or ""})

    async def _one(self, d: Delivery) -> None:
        try:
            applied = await self._through_outages(lambda: self._apply(d), 1)
        except Exception as exc:
            return await self._failed(d, exc)
        self.processed += applied
        self.duplicates += not applied
        self._committed()
        self._count()
        await d.raw.ack()

    async def _failed(self, d: Delivery, exc: Exception) -> None:
        if isinstance(exc, Unprocessable):
            await self.dead_letter(d.raw, f"unprocessable: {exc}")
        else:
            delivered = d.raw.metadata.num_delivered
            if 0 < self.spec.max_deliver <= delivered:
                await self.dead_letter(d.raw, f"failed {delivered} times: {exc!r}")
            else:
                log.warning("%s: %s will be retried (delivery %d): %r", self.name, d.env.id, delivered, exc,
                            extra={"case_id": d.env.subject, "ce_id": d.env.id})
                await d.raw.nak(delay=min(self.spec.retry_delay_s * 2.0 ** (delivered - 1), 30.0))

    async def _through_outages(self, attempt: Callable[[], Awaitable[T]], n: int) -> T:
        """`attempt()`, tried again after each PostgreSQL outage it meets (db.storage_is_down), up
        to MAX_HOLDS times; what it raises otherwise, or after that, is the caller's to handle."""
        holds = 0
        while True:
            try:
                return await attempt()
            except Exception as exc:
                if not db.storage_is_down(exc) or holds >= MAX_HOLDS:
                    raise
                holds += 1
                await self._hold(exc, n)

    async def _hold(self, exc: Exception, n: int) -> None:
        """PostgreSQL is away: keep the fetched batch, marked in progress so that JetStream neither
        redelivers it nor spends one of its messages' deliveries, and return once the database
        answers again. An outage, however long, does not use up a message's `max_deliver` and
        send it to the DLQ; the consumer simply waits, as every other would."""
        loop = asyncio.get_running_loop()
        started, pause = loop.time(), HOLD_FIRST_PAUSE_S
        log.warning("%s: the database is unavailable (%r); holding %d message(s) until it answers",
                    self.name, exc, n)
        while True:
            if await self._stopping_within(min(pause, self.spec.ack_wait_s / 3)):
                raise LetGo()
            for raw in self._held:
                try:
                    await raw.in_progress()
                except Exception:  # NATS away as well: JetStream redelivers after ack_wait
                    pass
            try:
                async with self.pool.acquire(timeout=PROBE_TIMEOUT_S) as conn:
                    await conn.execute(PROBE, timeout=PROBE_TIMEOUT_S)
            except Exception as probe_exc:
                if db.storage_is_down(probe_exc) or isinstance(probe_exc, TimeoutError):
                    pause = min(2 * pause, HOLD_MAX_PAUSE_S)
                    continue
                # something else: the retry meets it and handles it as the failure it is
            log.info("%s: the database answers again after %.1f s; retrying %d message(s)",
                     self.name, loop.time() - started, n)
            return

    async def _stopping_within(self, seconds: float) -> bool:
        """Wait `seconds`, or less if the process starts to stop; whether it has."""
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def _count(self) -> None:
        """Publish the processed/duplicate tallies as counters (deltas since the last call)."""
        if self.metrics:
            seen = getattr(self, "_reported", (0, 0))
            self.metrics.processed.labels(self.name).inc(self.processed - seen[0])
            self.metrics.duplicates.labels(self.name).inc(self.duplicates - seen[1])
            self._reported = (self.processed, self.duplicates)

    def _committed(self) -> None:
        if self.after_commit:
            self.after_commit()

    async def dead_letter(self, raw: Msg, reason: str) -> None:
        seq = raw.metadata.sequence.stream if raw.reply else 0
        headers = dict(raw.headers or {})
        headers.update({
            "moksori-dlq-reason": mask_text(_header_safe(reason)),
            "moksori-dlq-consumer": self.name,
            "moksori-dlq-subject": raw.subject,
            "Nats-Msg-Id": f"dlq:{self.name}:{seq}",
        })
        data = self.redact(raw.data)
        await self.js.publish(dlq_subject(self.spec.durable), data, headers=headers)
        log.error("%s: dead-lettered message on %s: %s", self.name, raw.subject, reason,
                  extra={"case_id": headers.get("ce-subject"), "ce_id": headers.get("ce-id")})
        self.dead_lettered += 1
        if self.metrics:
            self.metrics.dead_lettered.labels(self.name).inc()
        await self._alert(raw, reason, seq)
        await raw.term()

    async def _alert(self, raw: Msg, reason: str, seq: int) -> None:
        """Raise a `dead_letter` alert for the message (never for a dead-lettered alert of the same
        kind, so a failing alert consumer cannot feed itself). Its id is derived from the DLQ
        message, so a repeated dead-lettering is deduplicated by JetStream."""
        if raw.subject.endswith(f".{DEAD_LETTER}"):
            return
        case = (raw.headers or {}).get("ce-subject", "")
        try:
            case_id = uuid.UUID(case)
        except ValueError:  # not about a known case: the alert is keyed by the dead letter itself
            case_id = uuid.uuid5(uuid.NAMESPACE_URL, f"moksori:dlq:{self.name}:{seq}")
        # a team's refused command is told to that affiliate's supervisors too (its team must send it again);
        # the office reads every alert
        alert = AlertRaised(case_id=case_id, reason=DEAD_LETTER, severity="warning",
                            affiliate=commanding_affiliate(raw.subject),
                            message=f"{self.name}: a message on {raw.subject} was dead-lettered to "
                                    f"{dlq_subject(self.spec.durable)}: {mask_text(_header_safe(reason))[:300]}")
        subject, body, headers = encode(alert, envelope_for(alert, source=f"moksori/{self.schema}",
                                                            id=f"dlq-alert:{self.name}:{seq}" if seq else None))
        try:
            await self.js.publish(subject, body, headers=headers)
        except Exception as exc:  # the dead letter itself is safe on the DLQ; the alert is best effort
            log.warning("%s: could not raise the dead-letter alert: %r", self.name, exc)


# The pull consumers this process runs: (stream, durable) -> (batch size, idle wait s, fill
# batches); they long-poll when quiet (see normalise_fetch_timeouts).
_LONG_POLLS: dict[tuple[str, str], tuple[int, float, bool]] = {}


def normalise_fetch_timeouts() -> None:
    """Patches nats-py's PullSubscription.fetch, once per process, for two things:

    - **Long polls when quiet.** FastStream's batch loop calls fetch(batch, batch_wait) again and
      again; on a quiet consumer each call is a pull request that expires after 10-50 ms, so
      every idle consumer of every replica asks the server 20-100 times a second (about half a
      core for the whole system on one machine). For the consumers `subscribe` registered, a
      fetch for a whole batch with nothing buffered is made in two steps: one request for a single
      message that waits up to `idle_wait_s` (returning as soon as one arrives), then the rest of
      the batch: what the server holds after the usual `batch_wait_s` (`_filled`), or, for a
      consumer that does not fill batches (`ConsumerSpec.fill_batches`), what it holds at that
      moment (`_available`). Other callers are unchanged. Bound: when the
      server loses the waiting request (a restart), the consumer notices when its long poll ends,
      so delivery after a NATS restart can take up to `idle_wait_s` longer.
    - nats-py 2.16 raises a bare asyncio.TimeoutError from one path of fetch()
      (nats-io/nats.py#934) where FastStream's batch loop catches only
      nats.errors.TimeoutError. The escaped error restarts the loop and drops the
      half-collected batch, which then waits a full ack_wait for redelivery. Raising
      nats.errors.TimeoutError (itself a TimeoutError) changes nothing for other callers."""
    cls = JetStreamContext.PullSubscription
    if getattr(cls.fetch, "_moksori_normalised", False):
        return
    original = cls.fetch

    @functools.wraps(original)
    async def fetch(self, batch: int = 1, timeout: float | None = 5, heartbeat: float | None = None):
        try:
            size, idle_wait, fill = _LONG_POLLS.get((self._stream, self._consumer), (0, 0.0, True))
            if batch == size > 1 and timeout and not self.pending_msgs:
                first = await original(self, 1, idle_wait)  # TimeoutError after idle_wait: FastStream asks again
                try:
                    return first + (await _filled(self, batch - 1, timeout) if fill
                                    else await _available(self, batch - 1, timeout))
                except Exception as exc:  # the first message is ours now: hand it on, do not strand it
                    if not isinstance(exc, asyncio.TimeoutError):
                        log.warning("fetching the rest of a batch after a long poll failed: %r", exc)
                    return first
            if not fill and 0 < batch < size and timeout:
                # FastStream asks for the rest of a batch until it is full or its time is up: hand
                # over what has arrived since, and end the batch (TimeoutError) when nothing has
                if more := await _available(self, batch, timeout):
                    return more
                raise nats.errors.TimeoutError
            return await original(self, batch, timeout, heartbeat)
        except nats.errors.TimeoutError:
            raise
        except asyncio.TimeoutError as exc:
            raise nats.errors.TimeoutError from exc

    fetch._moksori_normalised = True  # type: ignore[attr-defined]
    cls.fetch = fetch  # type: ignore[method-assign]


async def _available(sub: JetStreamContext.PullSubscription, n: int, timeout: float) -> list[Msg]:
    """Up to `n` messages the server holds for the consumer now, without waiting for more to
    arrive: one `no_wait` pull request with no expiry, which the server answers at once with
    what it has and then a 404 status (nothing more now) unless the batch is full. `timeout`
    only bounds the wait for that answer. Under load a batch is what arrived while the
    previous one was being processed, so batches grow with the load and a message never
    waits on a timer to fill one."""
    await sub._nc.publish(sub._nms, json.dumps({"batch": n, "no_wait": True}).encode(), sub._deliver)  # noqa: SLF001
    msgs: list[Msg] = []
    received = sub._sub  # noqa: SLF001
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(msgs) < n:
        if received.pending_msgs:
            # the answer arrives in one burst, parsed into the subscription's queue at once: taken
            # from there directly, as next_msg would (without its two tasks per message)
            msg = received._pending_queue.get_nowait()  # noqa: SLF001
            received._pending_size -= len(msg.data)  # noqa: SLF001
            received._pending_queue.task_done()  # noqa: SLF001
        elif (left := deadline - loop.time()) <= 0:
            break
        else:
            try:
                msg = await received.next_msg(timeout=left)
            except asyncio.TimeoutError:
                break
        status = JetStreamContext.is_status_msg(msg)
        if not status:
            msgs.append(msg)
        elif status != "100":  # not an idle heartbeat: 404 (nothing more now) or 408; fetch drops a late one
            break
    return msgs


async def _filled(sub: JetStreamContext.PullSubscription, n: int, wait: float) -> list[Msg]:
    """Up to `n` messages within `wait` seconds, for a consumer that fills its batches: what the
    server holds now and, unless that fills the batch (a backlog), what arrived by the end of
    the wait. A pull request left waiting would have the server send each message as it is
    stored, one wake-up of this process and one of the server's writes per message; asked for
    at the end, the wait's messages come in one burst."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    msgs = await _available(sub, n, wait)
    if len(msgs) < n and (left := deadline - loop.time()) > 0:
        await asyncio.sleep(left)
        msgs += await _available(sub, n - len(msgs), wait)
    return msgs


async def _raw_batch(msg, original):
    """The batch's raw messages are the handler's argument: the consumer decodes each one itself,
    so one bad message cannot sink a batch. (Taking them as a `NatsMessage` context parameter
    instead makes fast-depends resolve that parameter in a worker thread, one thread hop per batch.)"""
    return msg.raw_message


def subscribe(broker: NatsBroker, spec: ConsumerSpec, consumer: Callable[[], IdempotentConsumer],
              batch_size: int = 100) -> None:
    """Register a FastStream batch pull subscriber bound to the pre-created durable.

    `consumer` is looked up per batch because pools and JetStream contexts exist only
    after start-up (nothing does I/O at import)."""
    _LONG_POLLS[(spec.stream, spec.durable)] = (batch_size, spec.idle_wait_s, spec.fill_batches)

    @broker.subscriber(spec.filter_subject, stream=JStream(spec.stream, declare=False), durable=spec.durable,
                       pull_sub=PullSub(batch_size=batch_size, timeout=spec.batch_wait_s, batch=True),
                       ack_policy=AckPolicy.MANUAL, decoder=_raw_batch,
                       title=f"{spec.durable}:{spec.filter_subject}", description=spec.description)
    async def handle(raws):  # unannotated: passed as it is, not validated
        await consumer().handle(raws)
