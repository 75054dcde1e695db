"""Intake's group commit of accepted VOCs takes the outbox rows its transaction wrote, by their
event ids, and hands them to be published the moment it commits; rows it did not write (a
VOC submitted again, whose case and events already exist) are not taken twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.intake.adapters.accept_batcher import AcceptBatcher
from services.intake.entrypoint import MIGRATIONS
from services.intake.handlers.submit import IntakeDeps, submit_voc
from shared import db
from shared.bizcal import load_calendar
from shared.events import VocSubmission
from shared.outbox import Outbox
from shared.pii_crypto import PiiCipher

pytestmark = pytest.mark.integration

TEXTS = ("앱에서 카드 결제가 두 번 됐어요 ㅠㅠ 취소 좀 해주세요",
         "안녕하십니까. 지난달 적금 만기 해지 건으로 문의드립니다.",
         "고객 내점, 통장 분실 신고 후 재발급 요청함. 본인 확인 완료")


@pytest.fixture
async def pool(database_url):
    pool = await db.create_pool(database_url)
    async with pool.acquire() as c:
        await db.migrate(c, "intake", MIGRATIONS)
    yield pool
    await pool.close()


async def test_a_group_commit_dispatches_exactly_the_rows_it_wrote(pool):
    outbox = Outbox("intake", "moksori/intake")
    dispatched: list[list] = []

    async def dispatch(rows):
        dispatched.append(rows)

    batcher = AcceptBatcher(pool, own_rows=outbox.TAKE_OWN, dispatch=dispatch, max_wait_s=0.05)
    deps = IntakeDeps(cipher=PiiCipher.from_spec(PiiCipher.generate_spec()), access_key="k" * 32,
                      calendar=load_calendar(), response_days=3)
    bodies = [VocSubmission(channel="app", text=t, channel_message_id=f"m-{i}") for i, t in enumerate(TEXTS)]
    outcomes = await asyncio.gather(*(submit_voc(pool, deps, outbox, b, idempotency_key=None, submitted_by="test",
                                                 insert=batcher.insert) for b in bodies))
    assert [o.status for o in outcomes] == ["accepted"] * 3
    await asyncio.sleep(0.05)  # the dispatch runs as a task once the callers are answered
    assert batcher.batches == 1 and len(dispatched) == 1
    # each case: its VocReceived and the customer's receipt notice, all held for the dispatch
    rows = await pool.fetch("SELECT id, subject, held_until FROM intake.outbox ORDER BY id")
    assert len(rows) == 6 and all(r["held_until"] is not None for r in rows)
    assert [r["id"] for r in dispatched[0]] == [r["id"] for r in rows]

    # the same submissions again: replayed, nothing new written, nothing dispatched
    again = await asyncio.gather(*(submit_voc(pool, deps, outbox, b, idempotency_key=None, submitted_by="test",
                                              insert=batcher.insert) for b in bodies))
    await asyncio.sleep(0.05)
    assert [o.status for o in again] == ["replayed"] * 3
    assert len(dispatched) == 1
    assert await pool.fetchval("SELECT count(*) FROM intake.outbox") == 6
    await batcher.close()


async def test_concurrent_requests_share_each_block_of_tracking_numbers(pool):
    """Requests that find the block used up wait for one refill instead of each fetching a
    block of its own and throwing the rest away: no number is skipped, one round trip per block."""
    from services.intake.adapters.repository import TrackingNumbers

    tracking = TrackingNumbers(block=50)
    got = await asyncio.gather(*(tracking.next(pool) for _ in range(200)))
    assert sorted(got) == list(range(min(got), min(got) + 200))
    assert tracking.fetches == 4
