"""Housekeeping against real PostgreSQL: inbox rows older than any stream keeps a message, and
outbox rows an older version marked published, are deleted in chunks; pending outbox rows,
however old, and young inbox rows stay. (The relay deletes a row as it publishes it.)"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from shared import db
from shared.housekeeping import Housekeeper

pytestmark = pytest.mark.integration

SERVICE = "routing"  # any service: the messaging tables are the same in every schema

ADD_OUTBOX = """
INSERT INTO routing.outbox (event_id, subject, headers, body, created_at, sent_at)
VALUES ($1, 'voc.routed.card.general', '{}'::jsonb, '\\x7b7d'::bytea,
        now() - make_interval(hours => $2), now() - make_interval(hours => $3))"""
ADD_INBOX = """
INSERT INTO routing.inbox (consumer, event_id, processed_at)
VALUES ('VOC_CLASSIFIED:routing', $1, now() - make_interval(days => $2))"""


async def test_marked_rows_and_old_inbox_rows_go_pending_and_young_ones_stay(conn, database_url):
    ids = {}
    for name, created_h, sent_h, n in (("old_marked", 50, 49, 5), ("young_marked", 3, 2, 2), ("old_pending", 50, None, 2)):
        ids[name] = [str(uuid.uuid4()) for _ in range(n)]
        for event_id in ids[name]:
            await conn.execute(ADD_OUTBOX, event_id, created_h, sent_h)
    for name, age_d, n in (("old", 40, 5), ("young", 10, 3)):
        ids[f"inbox_{name}"] = [str(uuid.uuid4()) for _ in range(n)]
        for event_id in ids[f"inbox_{name}"]:
            await conn.execute(ADD_INBOX, event_id, age_d)

    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    try:
        keeper = Housekeeper(pool, "routing", inbox_keep_days=31, chunk=3)
        assert await keeper.once() == (7, 5)  # in chunks of 3: 3 + 3 + 1, 3 + 2
        assert await keeper.once() == (0, 0)
    finally:
        await pool.close()
    left = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM routing.outbox")}
    assert left == set(ids["old_pending"])  # never a pending row, however old
    inbox = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM routing.inbox")}
    assert inbox == set(ids["inbox_young"])


async def test_the_loop_runs_every_interval_and_stops_when_told(conn, database_url):
    await conn.execute(ADD_OUTBOX, str(uuid.uuid4()), 50, 49)
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    try:
        stop = asyncio.Event()
        task = asyncio.create_task(Housekeeper(pool, "routing", inbox_keep_days=31)
                                   .run(stop, interval_s=0.2))
        for _ in range(50):
            if not await conn.fetchval("SELECT count(*) FROM routing.outbox"):
                break
            await asyncio.sleep(0.1)
        assert await conn.fetchval("SELECT count(*) FROM routing.outbox") == 0
        stop.set()
        await asyncio.wait_for(task, 2)
    finally:
        await pool.close()


@pytest.mark.parametrize("failure", [asyncpg.exceptions.InternalClientError("cannot switch to state 12"),
                                     RuntimeError("something unforeseen")])
async def test_a_failed_round_does_not_end_the_loop(conn, database_url, monkeypatch, failure):
    """A round that fails, with an error of a server going away mid-operation or one nobody
    foresaw, is logged and tried again: the task stays alive (nothing else would purge the inbox)."""
    await conn.execute(ADD_OUTBOX, str(uuid.uuid4()), 50, 49)
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    keeper = Housekeeper(pool, "routing", inbox_keep_days=31)
    real, calls = keeper.once, []

    async def once():
        calls.append(1)
        if len(calls) == 1:
            raise failure
        return await real()

    monkeypatch.setattr(keeper, "once", once)
    try:
        stop = asyncio.Event()
        task = asyncio.create_task(keeper.run(stop, interval_s=0.1))
        for _ in range(50):
            if not await conn.fetchval("SELECT count(*) FROM routing.outbox"):
                break
            await asyncio.sleep(0.1)
        assert len(calls) >= 2 and not task.done()
        assert await conn.fetchval("SELECT count(*) FROM routing.outbox") == 0
        stop.set()
        await asyncio.wait_for(task, 2)
    finally:
        await pool.close()
