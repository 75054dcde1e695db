"""Delivery semantics against a real nats-server and PostgreSQL, through the same
FastStream batch subscriber and IdempotentConsumer the services use."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from faststream.nats import NatsBroker
from nats.aio.subscription import Subscription

from shared import db
from shared.bus import ConsumerSpec, dlq_subject, ensure_topology
from shared.cloudevents import decode, encode, envelope_for
from shared.consumer import Delivery, IdempotentConsumer, Unprocessable, normalise_fetch_timeouts, subscribe
from shared.events import AlertRaised, CaseResolved, FeedbackSubmitted
from shared.outbox import Outbox, Relay, case_events_held

pytestmark = pytest.mark.integration

SPEC = ConsumerSpec("VOC_CASE", "probe", "voc.case.resolved", "test consumer", max_deliver=4, ack_wait_s=1.0,
                    retry_delay_s=0.1)


def resolved(case_id: uuid.UUID | None = None) -> CaseResolved:
    return CaseResolved(case_id=case_id or uuid.uuid4(), affiliate="card", team="general", channel="app",
                        resolution="이중 결제 취소 완료", resolved_at=datetime.now(UTC))


@pytest.fixture
async def probe(database_url, clean_js, nats_url, tmp_path: Path):
    (tmp_path / "001_effects.sql").write_text("CREATE TABLE probe.effects (case_id uuid NOT NULL, event_id text);")
    pool = await db.create_pool(database_url)
    async with pool.acquire() as conn:
        await db.migrate(conn, "probe", tmp_path)
    await ensure_topology(clean_js, consumers=(SPEC,))
    yield pool, clean_js
    await pool.close()


class Harness:
    """Runs one IdempotentConsumer behind FastStream; `drop_first_acks` simulates a
    crash between commit and ack; `failures` makes the effect fail that many times."""

    def __init__(self, pool, js, nats_url, *, drop_first_acks=False, failures=0, unprocessable=False,
                 bulk_failures=None, spec: ConsumerSpec = SPEC, relay: bool = False, no_effect=None,
                 idempotent=None, after_commit=None, one_statement: bool = False):
        self.outbox = Outbox("probe", "moksori/test")
        self.failures, self.unprocessable, self.drop_first_acks = failures, unprocessable, drop_first_acks
        self.events = True  # whether process adds an outbox row with its effect
        self.seen: dict[str, int] = {}
        self.bulk_calls = 0
        self.bulk_failures = bulk_failures

        async def with_bulk(conn, d):  # a process with a bulk path, as intake's call segments have
            await self.process(conn, d)
        with_bulk.bulk = self.bulk

        async def judged(conn, d):  # a process that can tell which messages it has nothing to do for
            await self.process(conn, d)
        judged.no_effect = no_effect
        judged.idempotent = idempotent
        self.one_statement_calls = 0

        async def direct(conn, d):  # a process that writes what needs no inbox row in one statement of its own
            await self.process(conn, d)
        direct.idempotent = lambda d: d.msg.team != "special_handling"
        direct.one_statement = self.one_statement
        process = with_bulk if bulk_failures is not None else judged if no_effect or idempotent else \
            direct if one_statement else self.process
        self.consumer = IdempotentConsumer(spec, schema="probe", pool=pool, js=js, expect=(CaseResolved,),
                                           process=process, after_commit=after_commit,
                                           relay=Relay(pool, js, self.outbox) if relay else None)
        original = self.consumer.handle

        async def handle(raws):
            self.batches.append(len(raws))
            for raw in raws:
                n = self.seen[raw.data] = self.seen.get(raw.data, 0) + 1
                if self.drop_first_acks and n == 1:
                    async def lost_ack(*_a, **_k):
                        return None
                    raw.ack = lost_ack  # the process "dies" after committing, before acking
            await original(raws)

        self.consumer.handle = handle  # type: ignore[method-assign]
        self.batches: list[int] = []
        self.broker = NatsBroker(nats_url)
        subscribe(self.broker, spec, lambda: self.consumer)

    async def process(self, conn, d: Delivery) -> None:
        if self.unprocessable:
            raise Unprocessable("this case can never be surveyed")
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("database hiccup")
        await conn.execute("INSERT INTO probe.effects VALUES ($1, $2)", d.msg.case_id, d.env.id)
        if self.events:
            await self.outbox.add(conn, FeedbackSubmitted(case_id=d.msg.case_id, csat=5, submitted_at=d.env.time))

    async def bulk(self, conn, ds: list[Delivery]) -> list[Delivery]:
        """Takes every other message in one statement and leaves the rest to `process`."""
        self.bulk_calls += 1
        if self.bulk_failures > 0:
            self.bulk_failures -= 1
            raise RuntimeError("bulk statement failed")
        mine, rest = ds[::2], ds[1::2]
        await conn.execute("INSERT INTO probe.effects SELECT unnest($1::uuid[]), unnest($2::text[])",
                           [d.msg.case_id for d in mine], [d.env.id for d in mine])
        for d in mine:
            await self.outbox.add(conn, FeedbackSubmitted(case_id=d.msg.case_id, csat=5, submitted_at=d.env.time))
        return rest

    async def one_statement(self, conn, ds: list[Delivery], hold_s: float) -> tuple[list[Delivery], list]:
        """Writes every message but the suggestions team's in one statement (a case once), its
        events held; leaves the others to `process`."""
        self.one_statement_calls += 1
        mine = [d for d in ds if d.msg.team != "suggestions_review"]
        ids, subjects, headers, bodies = self.outbox.columns([
            FeedbackSubmitted(case_id=d.msg.case_id, csat=5, submitted_at=d.env.time) for d in mine])
        cases = [d.msg.case_id for d in mine]
        rows = await conn.fetch(ONE_STATEMENT, cases, [d.env.id for d in mine], cases, ids, subjects, headers, bodies,
                                hold_s)
        return [d for d in ds if d.msg.team == "suggestions_review"], rows

    async def __aenter__(self):
        normalise_fetch_timeouts()
        await self.broker.start()
        return self

    async def __aexit__(self, *exc):
        await self.broker.stop()


ONE_STATEMENT = """
WITH c AS (
    INSERT INTO probe.effects SELECT x.case_id, x.event_id FROM unnest($1::uuid[], $2::text[]) AS x (case_id, event_id)
    WHERE NOT EXISTS (SELECT 1 FROM probe.effects e WHERE e.case_id = x.case_id)
    RETURNING case_id
""" + case_events_held("probe", 3)


async def publish(js, msg, **kw):
    subject, body, headers = encode(msg, envelope_for(msg, source="moksori/test", **kw))
    await js.publish(subject, body, headers=headers)
    return headers["ce-id"]


async def wait_for(predicate, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.05)
    return False


async def counts(pool):
    return (await pool.fetchval("SELECT count(*) FROM probe.effects"),
            await pool.fetchval("SELECT count(*) FROM probe.outbox"))


async def test_a_batch_reaches_the_consumer_without_a_thread_hop(probe, nats_url, monkeypatch):
    """FastStream resolves handler parameters with fast-depends, which runs a synchronous
    resolver (such as the `NatsMessage` context parameter's) in a worker thread: a thread hop,
    with its GIL hand-offs, for every batch of every consumer. The batch comes as the handler's
    decoded argument instead; nothing on the path may go through the thread pool."""
    import fast_depends.utils

    hops = []
    original = fast_depends.utils.run_in_threadpool

    async def counted(func, *args, **kwargs):
        hops.append(getattr(func, "__qualname__", repr(func)))
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(fast_depends.utils, "run_in_threadpool", counted)
    pool, js = probe
    async with Harness(pool, js, nats_url):
        for _ in range(3):
            await publish(js, resolved())
        assert await wait_for(lambda: _processed(pool, 3), timeout=5)
    assert hops == []


async def test_redelivered_message_is_processed_once(probe, nats_url):
    pool, js = probe
    async with Harness(pool, js, nats_url, drop_first_acks=True) as h:
        event_ids = [await publish(js, resolved()) for _ in range(5)]
        # every message is committed, its ack lost, redelivered after ack_wait, and found in the inbox
        assert await wait_for(lambda: _async(h.consumer.duplicates >= 5), timeout=15)
        assert await wait_for(lambda: _pending_zero(js))
    assert await counts(pool) == (5, 5)
    rows = await pool.fetch("SELECT event_id FROM probe.inbox WHERE consumer = 'VOC_CASE:probe'")
    assert sorted(r["event_id"] for r in rows) == sorted(event_ids)


@pytest.mark.parametrize("bulk_failures", [0, 1])
async def test_a_bulk_path_applies_each_message_once_even_when_acks_are_lost_or_it_fails(probe, nats_url,
                                                                                         bulk_failures):
    pool, js = probe
    async with Harness(pool, js, nats_url, drop_first_acks=True, bulk_failures=bulk_failures) as h:
        event_ids = [await publish(js, resolved()) for _ in range(6)]
        assert await wait_for(lambda: _async(h.consumer.duplicates >= 6), timeout=15)
        assert await wait_for(lambda: _pending_zero(js))
    assert h.bulk_calls >= 1
    assert await counts(pool) == (6, 6)  # the failed bulk rolled back; each message was then applied on its own
    rows = await pool.fetch("SELECT event_id FROM probe.effects")
    assert sorted(r["event_id"] for r in rows) == sorted(event_ids)


async def test_transient_failure_is_retried_until_it_succeeds(probe, nats_url):
    pool, js = probe
    async with Harness(pool, js, nats_url, failures=2) as h:
        await publish(js, resolved())
        assert await wait_for(lambda: _async(h.consumer.processed == 1), timeout=15)
    assert await counts(pool) == (1, 1)


async def test_duplicate_publish_is_dropped_by_jetstream(probe):
    _, js = probe
    event = resolved()
    await publish(js, event, id="same-id")
    await publish(js, event, id="same-id")
    assert (await js.stream_info("VOC_CASE")).state.messages == 1


@pytest.mark.parametrize("headers,body,reason", [
    ({"ce-id": "x1", "ce-type": CaseResolved.TYPE, "ce-source": "t", "ce-specversion": "1.0"}, b"{not json",
     "malformed"),
    ({"content-type": "application/json"}, b'{"case_id": "nope"}', "missing CloudEvents header"),
    ({"ce-id": "x2", "ce-type": CaseResolved.TYPE, "ce-source": "t", "ce-specversion": "1.0"},
     b'{"case_id": "7b1f0d7e-2f0a-4c1e-9a51-0d9c5b7a1e01", "affiliate": "mars"}', "affiliate"),
])
async def test_malformed_message_is_dead_lettered_and_not_redelivered(probe, nats_url, nc, headers, body, reason):
    pool, js = probe
    dead = await js.subscribe(dlq_subject("probe"), durable=None, ordered_consumer=True)
    async with Harness(pool, js, nats_url) as h:
        await js.publish("voc.case.resolved", body, headers=headers)
        good = await publish(js, resolved())  # the batch's good message is not held hostage
        msg = await dead.next_msg(timeout=10)
        assert await wait_for(lambda: _async(h.consumer.processed == 1))
        await asyncio.sleep(SPEC.ack_wait_s * 2)  # long enough for a redelivery, had it not been terminated
    assert msg.data == body
    assert reason in msg.headers["moksori-dlq-reason"]
    assert msg.headers["moksori-dlq-subject"] == "voc.case.resolved"
    assert list(h.seen.values()) == [1, 1]
    assert await counts(pool) == (1, 1)
    assert good in {r["event_id"] for r in await pool.fetch("SELECT event_id FROM probe.inbox")}


async def test_unprocessable_message_is_dead_lettered(probe, nats_url):
    pool, js = probe
    dead = await js.subscribe(dlq_subject("probe"), ordered_consumer=True)
    async with Harness(pool, js, nats_url, unprocessable=True):
        await publish(js, resolved())
        msg = await dead.next_msg(timeout=10)
    assert "unprocessable: this case can never be surveyed" in msg.headers["moksori-dlq-reason"]
    assert await counts(pool) == (0, 0)


async def test_message_failing_every_time_is_dead_lettered_after_max_deliver(probe, nats_url):
    pool, js = probe
    dead = await js.subscribe(dlq_subject("probe"), ordered_consumer=True)
    alerts = await js.subscribe("voc.alert.group.dead_letter", ordered_consumer=True)
    async with Harness(pool, js, nats_url, failures=100):
        event_id = await publish(js, resolved())
        msg = await dead.next_msg(timeout=30)
        alert = await alerts.next_msg(timeout=10)
    assert f"failed {SPEC.max_deliver} times" in msg.headers["moksori-dlq-reason"]
    # operators hear of it: one dead_letter alert about the same case, naming the consumer and the reason
    _, raised = decode(alert.headers, alert.data, (AlertRaised,))
    assert raised.reason == "dead_letter" and raised.severity == "warning"
    assert alert.headers["ce-subject"] == msg.headers["ce-subject"]
    assert "probe" in raised.message and f"failed {SPEC.max_deliver} times" in raised.message
    assert event_id == msg.headers["ce-id"]


async def _async(value):
    return value


async def _pending_zero(js):
    info = await js.consumer_info(SPEC.stream, SPEC.durable)
    return info.num_ack_pending == 0 and info.num_pending == 0


async def test_a_quiet_consumer_long_polls_and_still_takes_a_message_at_once(probe, nats_url, nc):
    """An idle consumer asks the server for messages about once per idle_wait_s (2 s), not once per
    batch_wait_s (50 ms); a message published while it waits is processed without waiting that out."""
    pool, js = probe
    requests: list[float] = []

    async def seen(_msg):
        requests.append(asyncio.get_running_loop().time())

    watch = await nc.subscribe(f"$JS.API.CONSUMER.MSG.NEXT.{SPEC.stream}.{SPEC.durable}", cb=seen)
    async with Harness(pool, js, nats_url):
        await asyncio.sleep(3.0)
        idle_requests = len(requests)
        sent = asyncio.get_running_loop().time()
        await publish(js, resolved())
        assert await wait_for(lambda: _processed(pool, 1), timeout=5)
        took = asyncio.get_running_loop().time() - sent
    await watch.unsubscribe()
    # two or three long polls plus the start-up's requests (3 here, 5 on a loaded CI machine); one per
    # 50 ms would be ~60
    assert idle_requests <= 8, f"{idle_requests} pull requests in 3 s of idling"
    assert took < 0.5, f"the message waited {took:.2f} s"


# a latency-bound stage: it must not wait its (deliberately long) batch_wait_s to fill a batch
EAGER = ConsumerSpec("VOC_CASE", "probe-eager", "voc.case.resolved", "test consumer", ack_wait_s=5.0,
                     batch_wait_s=1.0, fill_batches=False)


async def test_a_consumer_that_does_not_fill_batches_takes_what_is_there_at_once(probe, nats_url):
    """With fill_batches=False a lone message is processed without waiting batch_wait_s for more,
    and messages that arrive together are still taken as batches; none is lost or repeated."""
    pool, js = probe
    await ensure_topology(js, consumers=(EAGER,))
    async with Harness(pool, js, nats_url, spec=EAGER) as h:
        await asyncio.sleep(0.3)
        sent = asyncio.get_running_loop().time()
        await publish(js, resolved())
        assert await wait_for(lambda: _processed(pool, 1), timeout=5)
        took = asyncio.get_running_loop().time() - sent
        assert took < 0.5, f"a lone message waited {took:.2f} s (batch_wait_s is 1 s)"
        await asyncio.gather(*(publish(js, resolved()) for _ in range(60)))
        assert await wait_for(lambda: _processed(pool, 61), timeout=5)
        await asyncio.sleep(0.3)
    assert (await counts(pool))[0] == 61
    assert max(h.batches) > 1, f"batches {h.batches}"
    assert sum(h.batches) == 61, f"batches {h.batches}"


# a throughput-bound stage: it waits batch_wait_s to fill a batch
FILLING = ConsumerSpec("VOC_CASE", "probe-filling", "voc.case.resolved", "test consumer", ack_wait_s=5.0,
                       batch_wait_s=1.0)


async def test_a_consumer_that_fills_batches_takes_a_wait_s_messages_at_once_and_a_backlog_without_waiting(
        probe, nats_url, monkeypatch):
    """Messages that trickle in during a filling consumer's wait come in one burst at its end (not one
    delivery, and one task of nats-py's next_msg, each), in one batch; a backlog is taken in full
    batches without waiting; none is lost or repeated."""
    pool, js = probe
    await ensure_topology(js, consumers=(FILLING,))
    waits = 0
    next_msg = Subscription.next_msg

    async def counted(self, timeout=1.0):
        nonlocal waits
        waits += 1
        return await next_msg(self, timeout)

    monkeypatch.setattr(Subscription, "next_msg", counted)
    async with Harness(pool, js, nats_url, spec=FILLING) as h:
        await asyncio.sleep(0.3)
        waits = 0
        for _ in range(10):  # one message every 20 ms: all within the first one's wait (1 s)
            await publish(js, resolved())
            await asyncio.sleep(0.02)
        assert await wait_for(lambda: _processed(pool, 10), timeout=5)
        assert h.batches == [10], f"batches {h.batches}"
        # the long poll's, the answer to the look at once (nothing), the burst's first message
        assert waits <= 4, f"{waits} waits for 10 messages"
    await asyncio.gather(*(publish(js, resolved()) for _ in range(250)))
    started = asyncio.get_running_loop().time()
    async with Harness(pool, js, nats_url, spec=FILLING) as h:
        assert await wait_for(lambda: _processed(pool, 260), timeout=10)
        took = asyncio.get_running_loop().time() - started
    assert h.batches == [100, 100, 50], f"batches {h.batches}"
    # the last batch waits its 1 s; two full batches that waited too would take over 3 s
    assert took < 2.5, f"a backlog of 250 took {took:.2f} s with batch_wait_s 1.0"
    assert (await counts(pool))[0] == 260


async def test_a_batch_publishes_its_outbox_rows_as_it_commits_without_waiting_for_the_relay(probe, nats_url):
    """No relay loop runs here: the events the batch's transaction added reach the stream anyway,
    before the batch is acked, and stay pending only until a relay flush deletes them."""
    pool, js = probe
    before = (await js.stream_info("VOC_FEEDBACK")).state.messages
    async with Harness(pool, js, nats_url, relay=True) as h:
        for _ in range(3):
            await publish(js, resolved())
        assert await wait_for(lambda: _processed(pool, 3), timeout=5)
        assert await wait_for(lambda: _pending_zero(js), timeout=5)  # acked
    assert (await js.stream_info("VOC_FEEDBACK")).state.messages - before == 3
    relay = h.consumer.relay
    assert relay.dispatched == 3 and await relay.flush_once() == 0
    assert await pool.fetchval(h.outbox.COUNT_PENDING) == 0


async def test_the_relay_is_woken_only_for_rows_no_dispatch_took(probe, nats_url):
    """A woken relay scans its outbox for pending rows. A batch whose rows it dispatched itself
    leaves none, so it does not wake the relay; a message handled on its own after its batch
    failed leaves its row to the relay, and wakes it."""
    pool, js = probe
    wakes: list[int] = []
    async with Harness(pool, js, nats_url, relay=True, after_commit=lambda: wakes.append(1)) as h:
        for _ in range(3):
            await publish(js, resolved())
        assert await wait_for(lambda: _processed(pool, 3), timeout=5)
        assert await wait_for(lambda: _pending_zero(js), timeout=5)
        assert wakes == [] and h.consumer.relay.dispatched == 3
        h.failures = 1  # the batch fails; the message is then processed in a transaction of its own
        await publish(js, resolved())
        assert await wait_for(lambda: _processed(pool, 4), timeout=5)
        assert await wait_for(lambda: _pending_zero(js), timeout=5)
    assert wakes == [1] and h.consumer.relay.dispatched == 3
    assert await pool.fetchval(h.outbox.COUNT_PENDING) == 4  # 3 published (to delete), 1 for the relay
    assert await h.consumer.relay.flush_once() == 1


async def test_what_needs_no_inbox_row_is_written_in_one_statement_of_its_own_and_published_at_once(
        probe, nats_url):
    """A process's `one_statement` writes a batch's messages that need no inbox row in autocommit,
    their events held; the consumer publishes those events itself, as for a transaction's own rows,
    and the messages it left (and those that need an inbox row) go through a transaction. Every
    event is published once, no relay is woken, and only the claimed message has an inbox row."""
    pool, js = probe
    wakes: list[int] = []
    before = (await js.stream_info("VOC_FEEDBACK")).state.messages
    async with Harness(pool, js, nats_url, relay=True, after_commit=lambda: wakes.append(1),
                       one_statement=True) as h:
        for team in ("general", "general", "suggestions_review", "special_handling", "general"):
            await publish(js, CaseResolved(**{**resolved().model_dump(), "team": team}))
        assert await wait_for(lambda: _processed(pool, 5), timeout=5)
        assert await wait_for(lambda: _pending_zero(js), timeout=5)
    assert h.one_statement_calls >= 1 and wakes == []
    assert h.consumer.relay.dispatched == 5
    assert (await js.stream_info("VOC_FEEDBACK")).state.messages - before == 5
    assert await pool.fetchval("SELECT count(*) FROM probe.inbox") == 1  # the special handling team's
    assert await h.consumer.relay.flush_once() == 0  # nothing left for a relay: all published already
    assert await pool.fetchval(h.outbox.COUNT_PENDING) == 0


async def test_a_redelivered_batch_written_in_one_statement_sends_nothing_again(probe, nats_url):
    """Acks lost after the statement committed: the redelivered messages write nothing and send
    nothing a second time (the statement finds their cases written), and are acked."""
    pool, js = probe
    before = (await js.stream_info("VOC_FEEDBACK")).state.messages
    async with Harness(pool, js, nats_url, relay=True, drop_first_acks=True, one_statement=True) as h:
        for _ in range(3):
            await publish(js, resolved())
        assert await wait_for(lambda: _pending_zero(js), timeout=10)
    assert all(n >= 2 for n in h.seen.values()) and len(h.seen) == 3  # each delivered again
    assert await counts(pool) == (3, 3)
    assert (await js.stream_info("VOC_FEEDBACK")).state.messages - before == 3


async def test_messages_a_process_has_nothing_to_do_for_are_acked_without_an_inbox_row(probe, nats_url):
    """Most turns of a live call give screening nothing to record: `no_effect` says so, and they
    are acked with no transaction and no inbox row, while the rest of the batch is processed (and
    claimed) as usual. A message `no_effect` cannot judge is processed."""
    pool, js = probe

    def no_effect(d: Delivery) -> bool:
        if d.msg.team == "special_handling":
            raise ValueError("cannot tell")
        return d.msg.team == "suggestions_review"

    def event(team: str) -> CaseResolved:
        return resolved().model_copy(update={"team": team})

    async with Harness(pool, js, nats_url, no_effect=no_effect) as h:
        ids = {team: [await publish(js, event(team)) for _ in range(n)]
               for team, n in (("suggestions_review", 4), ("general", 2), ("special_handling", 1))}
        assert await wait_for(lambda: _async(h.consumer.processed == 7), timeout=10), h.consumer.processed
        assert await wait_for(lambda: _pending_zero(js))  # every one acked, the quiet ones too
    effects = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM probe.effects")}
    claimed = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM probe.inbox")}
    assert effects == claimed == {*ids["general"], *ids["special_handling"]}


async def test_messages_idempotent_by_themselves_are_processed_without_an_inbox_row(probe, nats_url):
    """Intake stores a call segment under its call and seq: a redelivery changes nothing, so the
    process says so (`idempotent`) and the consumer claims no inbox row for it; the others of the
    batch are claimed as usual."""
    pool, js = probe
    def idempotent(d: Delivery) -> bool:
        if d.msg.team == "special_handling":
            raise ValueError("cannot tell")  # judged not idempotent: claimed
        return d.msg.team == "suggestions_review"

    async with Harness(pool, js, nats_url, idempotent=idempotent) as h:
        free = [await publish(js, resolved().model_copy(update={"team": "suggestions_review"})) for _ in range(3)]
        claimed = [await publish(js, resolved()) for _ in range(2)]
        claimed.append(await publish(js, resolved().model_copy(update={"team": "special_handling"})))
        assert await wait_for(lambda: _processed(pool, 6), timeout=10)
        assert await wait_for(lambda: _pending_zero(js))
    assert {r["event_id"] for r in await pool.fetch("SELECT event_id FROM probe.effects")} == {*free, *claimed}
    assert {r["event_id"] for r in await pool.fetch("SELECT event_id FROM probe.inbox")} == set(claimed)
    assert h.consumer.processed == 6


async def test_a_batch_that_adds_no_outbox_rows_does_not_look_for_its_own(probe, nats_url, monkeypatch):
    """Taking the rows a batch added (Outbox.TAKE_OWN) is a round trip;
    a batch that made none (the live-call and timeline consumers, mostly) skips it."""
    import asyncpg

    fetched: list[str] = []
    original = asyncpg.Connection.fetch

    async def fetch(self, query, *args, **kwargs):
        fetched.append(query)
        return await original(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "fetch", fetch)
    pool, js = probe
    async with Harness(pool, js, nats_url, relay=True) as h:
        h.events = False
        for _ in range(3):
            await publish(js, resolved())
        assert await wait_for(lambda: _processed(pool, 3), timeout=5)
        assert await wait_for(lambda: _pending_zero(js), timeout=5)
        quiet = fetched.count(h.outbox.TAKE_OWN)
        h.events = True
        await publish(js, resolved())
        assert await wait_for(lambda: _processed(pool, 4), timeout=5)
        assert await wait_for(lambda: _pending_zero(js), timeout=5)
    assert quiet == 0 and fetched.count(h.outbox.TAKE_OWN) == 1
    assert h.consumer.relay.dispatched == 1


async def _processed(pool, n: int) -> bool:
    return (await counts(pool))[0] >= n


async def test_a_bulk_batch_is_one_span_linked_to_each_message_and_its_events_continue_it(probe, nats_url,
                                                                                          monkeypatch):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import shared.consumer as consumer_module
    from shared.telemetry import inject

    exporter, provider = InMemorySpanExporter(), TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    test_tracer = provider.get_tracer("test")
    monkeypatch.setattr(consumer_module, "tracer", test_tracer)
    pool, js = probe
    sent: set[int] = set()
    async with Harness(pool, js, nats_url, bulk_failures=0) as h:
        for _ in range(4):
            with test_tracer.start_as_current_span("channel publish") as span:  # each message its own trace
                sent.add(span.get_span_context().trace_id)
                msg = resolved()
                subject, body, headers = encode(msg, envelope_for(msg, source="moksori/test"))
                await js.publish(subject, body, headers=inject(headers))
        assert await wait_for(lambda: _async(h.consumer.processed == 4), timeout=15)
    batches = [s for s in exporter.get_finished_spans() if s.name.endswith("process batch")]
    assert batches and {link.context.trace_id for s in batches for link in s.links} == sent
    batch_traces = {s.context.trace_id for s in batches}
    traces = [int(r["tp"].split("-")[1], 16) for r in
              await pool.fetch("SELECT headers->>'traceparent' AS tp FROM probe.outbox")]
    assert len(traces) == 4 and set(traces) <= sent | batch_traces
    assert set(traces) & batch_traces  # what the bulk path wrote continues from the batch's span
