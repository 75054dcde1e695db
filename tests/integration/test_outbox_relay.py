"""The outbox relay: nothing committed is lost while NATS is away."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest

from shared import db
from shared.bus import ensure_topology
from shared.devstack import NatsServer
from shared.events import AlertRaised
from shared.outbox import Outbox, Relay, rows_made, watch_rows

pytestmark = pytest.mark.integration


def alert() -> AlertRaised:
    return AlertRaised(case_id=uuid.uuid4(), reason="regulator", severity="high", message="금감원 민원 언급")


@pytest.fixture
async def pool(database_url, tmp_path: Path):
    pool = await db.create_pool(database_url)
    async with pool.acquire() as conn:
        await db.migrate(conn, "probe", tmp_path)
    yield pool
    await pool.close()


async def add(pool, outbox: Outbox, n: int) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for _ in range(n):
            await outbox.add(conn, alert())


@asynccontextmanager
async def running(relay: Relay):
    """The relay's loop, as a service runs it, for the block's duration."""
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield
    finally:
        stop.set()
        relay.wake()
        await task


async def add_held(pool, outbox: Outbox) -> list:
    """One event committed by a writer that holds it to publish itself (Outbox.TAKE_OWN)."""
    watch_rows()
    async with pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, alert())
        return await conn.fetch(outbox.TAKE_OWN, rows_made())


async def test_relay_publishes_with_msg_id_and_deletes_the_rows(pool, clean_js):
    await ensure_topology(clean_js, consumers=())
    outbox = Outbox("probe", "moksori/test")
    await add(pool, outbox, 25)
    relay = Relay(pool, clean_js, outbox, batch=10)
    rows = await pool.fetch("SELECT event_id, subject, headers, body FROM probe.outbox")
    assert [await relay.flush_once() for _ in range(4)] == [10, 10, 5, 0]
    assert await pool.fetchval(outbox.COUNT_PENDING) == 0
    assert await pool.fetchval("SELECT count(*) FROM probe.outbox") == 0  # published rows are deleted
    assert (await clean_js.stream_info("VOC_ALERTS")).state.messages == 25
    # publishing the same rows again (a relay that crashed before deleting them) is dropped by JetStream
    await pool.executemany(outbox.INSERT, [tuple(r) for r in rows])
    await relay.flush_once()
    await relay.flush_once()
    await relay.flush_once()
    assert (await clean_js.stream_info("VOC_ALERTS")).state.messages == 25


async def test_rows_wait_while_nats_is_down_and_go_out_when_it_returns(pool, tmp_path: Path):
    server = NatsServer(tmp_path / "own-nats", name="relay-test").start()
    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream(timeout=1.0)
    await ensure_topology(js, consumers=())
    outbox = Outbox("probe", "moksori/test")
    relay = Relay(pool, js, outbox, batch=50, idle_poll_s=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await add(pool, outbox, 10)
        await _eventually(lambda: pool.fetchval(outbox.COUNT_PENDING), 0)
        server.stop()
        await add(pool, outbox, 40)  # accepted while NATS is down
        await asyncio.sleep(1.5)
        assert await pool.fetchval(outbox.COUNT_PENDING) == 40
        server.start()  # same port, same store
        await _eventually(lambda: pool.fetchval(outbox.COUNT_PENDING), 0, timeout=30)
        assert (await js.stream_info("VOC_ALERTS")).state.messages == 50
    finally:
        stop.set()
        await task
        await nc.close()
        server.stop()


async def _eventually(get, want, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await get()
        if got == want or asyncio.get_running_loop().time() > deadline:
            assert got == want
            return
        await asyncio.sleep(0.1)


async def test_dispatched_rows_go_out_at_once_and_the_next_flush_deletes_them_without_republishing(pool, clean_js):
    await ensure_topology(clean_js, consumers=())
    outbox = Outbox("probe", "moksori/test")
    relay = Relay(pool, clean_js, outbox)
    watch_rows()
    async with pool.acquire() as conn:
        async with conn.transaction():
            await outbox.add(conn, alert())
            await outbox.add(conn, alert())
            async with conn.transaction():  # a savepoint's row is not the transaction's own: the relay claims it
                await outbox.add(conn, alert())
            own = await conn.fetch(outbox.TAKE_OWN, rows_made())
    assert len(rows_made()) == 3 and len(own) == 2
    await relay.dispatch(own)
    assert (await clean_js.stream_info("VOC_ALERTS")).state.messages == 2  # before any flush
    assert await pool.fetchval(outbox.COUNT_PENDING) == 3  # published, not yet deleted
    assert await relay.flush_once() == 1  # deletes the two, claims only the savepoint's row
    assert await pool.fetchval(outbox.COUNT_PENDING) == 0
    assert (await clean_js.stream_info("VOC_ALERTS")).state.messages == 3
    assert relay.dispatched == 2 and relay.published == 1


async def test_a_row_whose_dispatch_fails_is_left_to_the_relay(pool, clean_js):
    await ensure_topology(clean_js, consumers=())
    outbox = Outbox("probe", "moksori/test")
    relay = Relay(pool, clean_js, outbox)
    own = await add_held(pool, outbox)
    await clean_js.delete_stream("VOC_ALERTS")  # nothing takes the subject: the publish fails
    await relay.dispatch(own)
    assert relay.dispatched == 0
    with pytest.raises(ConnectionError):  # the relay claims the row and tries it itself
        await relay.flush_once()
    await ensure_topology(clean_js, consumers=())
    assert await relay.flush_once() == 1
    assert await pool.fetchval(outbox.COUNT_PENDING) == 0


async def test_held_rows_are_left_alone_between_commit_and_dispatch_until_their_hold_expires(pool, clean_js):
    """The writer holds its rows in the committing transaction: no relay (this replica's, woken
    by the same commit, or another replica's) publishes them a second time while the writer is
    on its way to publishing them. If the writer dies first, any relay takes them after the hold."""
    await ensure_topology(clean_js, consumers=())
    outbox = Outbox("probe", "moksori/test", hold_s=1.0)
    own = await add_held(pool, outbox)
    mine, other = Relay(pool, clean_js, outbox), Relay(pool, clean_js, outbox)
    assert await other.flush_once() == 0 and await mine.flush_once() == 0
    await mine.dispatch(own)
    assert await mine.flush_once() == 0  # deletes it
    await asyncio.sleep(1.1)
    assert await other.flush_once() == 0  # sent: never claimed again
    assert (await clean_js.stream_info("VOC_ALERTS")).state.messages == 1

    await add_held(pool, outbox)  # a writer that dies before it publishes
    assert await other.flush_once() == 0
    await asyncio.sleep(1.1)
    assert await other.flush_once() == 1
    assert await pool.fetchval(outbox.COUNT_PENDING) == 0


async def test_a_failed_publish_does_not_undo_the_deleting_of_what_went_out(pool, clean_js):
    await ensure_topology(clean_js, consumers=())
    outbox = Outbox("probe", "moksori/test")
    relay = Relay(pool, clean_js, outbox)
    own = await add_held(pool, outbox)
    await relay.dispatch(own)  # published; to be deleted by the next flush
    await add(pool, outbox, 2)  # the relay's to publish
    await pool.execute("INSERT INTO probe.outbox (event_id, subject, headers, body) "
                       "VALUES ('no-stream', 'voc.nowhere.x', '{}'::jsonb, 'x'::bytea)")  # no stream takes it
    with pytest.raises(ConnectionError, match="1 outbox publishes failed"):
        await relay.flush_once()
    assert await pool.fetchval(outbox.COUNT_PENDING) == 1  # only the row nothing takes
    assert (await clean_js.stream_info("VOC_ALERTS")).state.messages == 3


class _SlowJetStream:
    """Publishes after a delay, like a JetStream ack on a busy cluster."""

    def __init__(self, js) -> None:
        self.js = js

    async def publish_async(self, *args, **kwargs):
        await asyncio.sleep(0.3)
        return await self.js.publish_async(*args, **kwargs)

    def publish_async_pending(self) -> int:
        return self.js.publish_async_pending()


async def test_drain_at_shutdown_waits_for_dispatches_under_way_and_deletes_them(pool, clean_js):
    await ensure_topology(clean_js, consumers=())
    outbox = Outbox("probe", "moksori/test")
    relay = Relay(pool, _SlowJetStream(clean_js), outbox)
    own = await add_held(pool, outbox)
    dispatching = asyncio.create_task(relay.dispatch(own))
    await asyncio.sleep(0.05)
    await relay.drain()
    assert dispatching.done()
    assert await pool.fetchval(outbox.COUNT_PENDING) == 0  # deleted, not left held for the next start


async def test_a_busy_services_wake_ups_share_flushes_and_nothing_waits_long(pool, clean_js):
    """Two hundred commits each waking the relay within ~0.4 s: every row still goes out within
    moments, but the relay opens a transaction per coalescing interval, not per wake-up."""
    await ensure_topology(clean_js, consumers=())
    outbox = Outbox("probe", "moksori/test")
    relay = Relay(pool, clean_js, outbox, coalesce_s=0.05, idle_poll_s=5.0)
    flushes = 0
    flush_once = relay.flush_once

    async def counted(claim: bool = True) -> int:
        nonlocal flushes
        flushes += 1
        return await flush_once(claim)

    relay.flush_once = counted  # type: ignore[method-assign]
    async with running(relay):
        await asyncio.sleep(0.1)
        for _ in range(200):
            await add(pool, outbox, 1)
            relay.wake()
            await asyncio.sleep(0.002)
        await _eventually(lambda: pool.fetchval(outbox.COUNT_PENDING), 0, timeout=2.0)  # idle poll is 5 s
    assert (await clean_js.stream_info("VOC_ALERTS")).state.messages == 200
    assert flushes < 60, flushes  # one per wake-up would be ~200


async def test_flushes_after_dispatches_only_delete_and_a_row_nobody_woke_for_goes_out_by_the_poll(pool, clean_js):
    """A busy service's dispatches wake the relay every few milliseconds; those flushes only delete
    what was published and do not scan the table for pending rows. A row left with no wake-up (a
    writer that died after its commit, before dispatching) is still found by the look every
    `idle_poll_s`, however busy the relay is."""
    await ensure_topology(clean_js, consumers=())
    outbox = Outbox("probe", "moksori/test")
    relay = Relay(pool, clean_js, outbox, coalesce_s=0.01, idle_poll_s=0.4)
    async with running(relay):
        await asyncio.sleep(0.1)  # the first look, at start-up
        await add(pool, outbox, 1)  # committed, never dispatched, no wake-up
        started = asyncio.get_running_loop().time()
        while await pool.fetchval("SELECT count(*) FROM probe.outbox WHERE held_until IS NULL") and \
                asyncio.get_running_loop().time() - started < 3.0:
            await relay.dispatch(await add_held(pool, outbox))
            await asyncio.sleep(0.01)
        found_after = asyncio.get_running_loop().time() - started
        for _ in range(40):  # a second of dispatches only
            await relay.dispatch(await add_held(pool, outbox))
            await asyncio.sleep(0.01)
        await _eventually(lambda: pool.fetchval(outbox.COUNT_PENDING), 0, timeout=2.0)
    assert found_after < 0.4 + 0.3, found_after
    assert relay.published == 1 and relay.dispatched >= 40
    assert relay.claims <= 2 + 1.5 / 0.4, relay.claims  # one look per idle_poll_s, not one per flush
    assert (await clean_js.stream_info("VOC_ALERTS")).state.messages == 1 + relay.dispatched


async def test_a_writer_takes_only_the_rows_it_wrote_not_those_others_wrote_with_the_same_or_other_ids(pool):
    """TAKE_OWN finds the rows by the event ids the transaction made; a row with one of those ids
    that another transaction wrote first (the insert did nothing: a redelivery), and every other
    pending row, stay the relay's."""
    outbox = Outbox("probe", "moksori/test")
    first = alert()
    async with pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, first, id="same-event")
        await outbox.add(conn, alert())
    watch_rows()
    async with pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, first, id="same-event")  # ON CONFLICT DO NOTHING: not this transaction's row
        await outbox.add(conn, alert(), id="new-event")
        own = await conn.fetch(outbox.TAKE_OWN, rows_made())
    assert rows_made() == ["same-event", "new-event"]
    assert [r["id"] for r in own] == [await pool.fetchval("SELECT id FROM probe.outbox WHERE event_id = 'new-event'")]
    held = await pool.fetch("SELECT event_id FROM probe.outbox WHERE held_until IS NOT NULL")
    assert [r["event_id"] for r in held] == ["new-event"]


async def test_publish_each_reports_per_message_which_publishes_jetstream_acked(clean_js):
    """The relay and Runtime.publish_now share it: one publish that no stream takes fails on its
    own, the others are acked."""
    from shared.outbox import publish_each

    await ensure_topology(clean_js, consumers=())
    outbox = Outbox("probe", "moksori/test")
    good = [outbox.encoded(alert())[1] for _ in range(2)]
    errors = await publish_each(clean_js, [(good[0][1], good[0][3], good[0][2]), ("voc.nowhere.x", b"{}", {}),
                                           (good[1][1], good[1][3], good[1][2])])
    assert errors[0] is None and errors[2] is None and errors[1] is not None
    assert (await clean_js.stream_info("VOC_ALERTS")).state.messages == 2


async def test_publish_each_counts_a_publish_without_an_ack_in_time_as_failed(clean_js):
    """A JetStream that never answers (a stream whose leader is gone) must not hang the relay."""
    from shared.outbox import ASYNC_PENDING_LIMIT, publish_each

    class Silent:
        async def publish_async(self, *args, **kwargs):
            return asyncio.get_running_loop().create_future()  # no ack, ever

        def publish_async_pending(self) -> int:
            return 0

    started = asyncio.get_running_loop().time()
    errors = await publish_each(Silent(), [("voc.alert.bank", b"{}", {})] * 3, timeout=0.2)  # type: ignore[arg-type]
    assert all(isinstance(e, asyncio.TimeoutError) for e in errors)
    assert asyncio.get_running_loop().time() - started < 1.0

    class Full(Silent):  # as many acks outstanding as nats-py allows: fail now, do not wait for a slot
        def publish_async_pending(self) -> int:
            return ASYNC_PENDING_LIMIT

    started = asyncio.get_running_loop().time()
    errors = await publish_each(Full(), [("voc.alert.bank", b"{}", {})] * 2, timeout=5.0)  # type: ignore[arg-type]
    assert all(isinstance(e, ConnectionError) for e in errors)
    assert asyncio.get_running_loop().time() - started < 0.5
