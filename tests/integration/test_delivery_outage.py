"""A PostgreSQL outage longer than a consumer's retries: the messages it holds, and those that
arrive meanwhile, are neither naked away nor dead-lettered; each is processed once when the
database is back. Real nats-server, and a PostgreSQL of the test's own that it stops and starts."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import asyncpg
import nats.errors
import pytest

from shared import db
from shared.bus import dlq_subject, ensure_topology
from shared.devstack import PostgresServer
from tests.integration.test_delivery import SPEC, Harness, _async, probe, publish, resolved, wait_for  # noqa: F401 (probe: fixture)

pytestmark = pytest.mark.integration


@pytest.fixture
async def own_pg(tmp_path: Path):
    pg = PostgresServer(tmp_path / "pg", durable=True)
    await asyncio.to_thread(pg.start)
    yield pg
    await asyncio.to_thread(pg.stop)


async def test_an_outage_longer_than_the_retries_sends_nothing_to_the_dlq(own_pg, clean_js, nats_url, tmp_path):
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "001_effects.sql").write_text("CREATE TABLE probe.effects (case_id uuid NOT NULL, event_id text);")
    pool = await db.create_pool(own_pg.url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await db.migrate(conn, "probe", migrations)
        await ensure_topology(clean_js, consumers=(SPEC,))
        dead = await clean_js.subscribe(dlq_subject("probe"), ordered_consumer=True)
        async with Harness(pool, clean_js, nats_url) as h:
            await publish(clean_js, resolved())
            assert await wait_for(lambda: _async(h.consumer.processed == 1))
            await asyncio.to_thread(own_pg.stop, signal.SIGINT)
            for _ in range(5):
                await publish(clean_js, resolved())
            # SPEC: 4 deliveries, naks after 0.1, 0.2, 0.4 s and an ack wait of 1 s; failing
            # messages would have been dead-lettered several times over in this time
            await asyncio.sleep(5)
            assert h.consumer.processed == 1 and h.consumer.dead_lettered == 0
            await asyncio.to_thread(own_pg.start)
            assert await wait_for(lambda: _async(h.consumer.processed == 6), timeout=30)
        assert h.consumer.dead_lettered == 0
        with pytest.raises(nats.errors.TimeoutError):
            await dead.next_msg(timeout=0.5)
        assert await pool.fetchval("SELECT count(*) FROM probe.effects") == 6
        assert await pool.fetchval("SELECT count(DISTINCT event_id) FROM probe.effects") == 6
    finally:
        await pool.close()


class LooksLikeAnOutage(Harness):
    """Its effect fails every time with an error of the outage kind, while the database is up."""

    async def process(self, conn, d) -> None:
        raise asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation is in progress")


async def test_an_outage_error_while_the_database_answers_is_not_held_forever(probe, nats_url):
    """After MAX_HOLDS holds (the database answered each probe, and the retry failed again), the
    message is treated as failing: retried with backoff and at last dead-lettered, not held for
    ever (nor, if it were a message that crashes the server, crashing it for ever)."""
    pool, js = probe
    dead = await js.subscribe(dlq_subject("probe"), ordered_consumer=True)
    async with LooksLikeAnOutage(pool, js, nats_url) as h:
        event_id = await publish(js, resolved())
        msg = await dead.next_msg(timeout=60)
    assert msg.headers["ce-id"] == event_id and h.consumer.dead_lettered == 1
    assert "InternalClientError" in msg.headers["moksori-dlq-reason"]


async def test_a_consumer_holding_messages_through_an_outage_still_stops_when_told(own_pg, clean_js, nats_url,
                                                                                 tmp_path):
    """SIGTERM during an outage: the held batch is let go (unacked, so JetStream redelivers it to
    whoever pulls next) and the consumer stops at once, rather than waiting for the database."""
    pool = await db.create_pool(own_pg.url, min_size=1, max_size=2)
    try:
        migrations = tmp_path / "migrations"
        migrations.mkdir()
        (migrations / "001_effects.sql").write_text("CREATE TABLE probe.effects (case_id uuid NOT NULL, event_id text);")
        async with pool.acquire() as conn:
            await db.migrate(conn, "probe", migrations)
        await ensure_topology(clean_js, consumers=(SPEC,))
        h = Harness(pool, clean_js, nats_url)
        h.consumer.stopping = asyncio.Event()  # as Runtime passes it
        await h.__aenter__()
        await asyncio.to_thread(own_pg.stop, signal.SIGINT)
        await publish(clean_js, resolved())
        assert await wait_for(lambda: _async(bool(h.batches)), timeout=10)
        await asyncio.sleep(1)  # holding now
        started = asyncio.get_running_loop().time()
        h.consumer.stopping.set()  # what Runtime does first at SIGTERM
        await asyncio.wait_for(h.__aexit__(None, None, None), 30)
        assert asyncio.get_running_loop().time() - started < 5  # not FastStream's 15-s graceful timeout
        assert h.consumer.processed == 0 and h.consumer.dead_lettered == 0
    finally:
        pool.terminate()
