"""Intake's group commit of accepted VOCs writes its outbox rows held, gets them back from the same
statement, and hands them to be published the moment it commits; rows it did not write (a VOC
submitted again, whose case and events already exist) are not taken twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
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

    wakes: list[int] = []
    batcher = AcceptBatcher(pool, dispatch=dispatch, max_wait_s=0.05,
                            wake=lambda: wakes.append(1))
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
    assert not wakes  # nothing left for the relay: it need not look for pending rows

    # the same submissions again: replayed, nothing new written, nothing dispatched
    again = await asyncio.gather(*(submit_voc(pool, deps, outbox, b, idempotency_key=None, submitted_by="test",
                                              insert=batcher.insert) for b in bodies))
    await asyncio.sleep(0.05)
    assert [o.status for o in again] == ["replayed"] * 3
    assert len(dispatched) == 1
    assert await pool.fetchval("SELECT count(*) FROM intake.outbox") == 6
    await batcher.close()


async def test_rows_left_for_the_relay_wake_it(pool):
    """Without a dispatch (or when a batch fails and each case is inserted on its own) the rows
    are the relay's, and it is woken to look for them."""
    outbox = Outbox("intake", "moksori/intake")
    wakes: list[int] = []
    batcher = AcceptBatcher(pool, max_wait_s=0.05, wake=lambda: wakes.append(1))
    deps = IntakeDeps(cipher=PiiCipher.from_spec(PiiCipher.generate_spec()), access_key="k" * 32,
                      calendar=load_calendar(), response_days=3)
    bodies = [VocSubmission(channel="app", text=t, channel_message_id=f"w-{i}") for i, t in enumerate(TEXTS)]
    await asyncio.gather(*(submit_voc(pool, deps, outbox, b, idempotency_key=None, submitted_by="test",
                                      insert=batcher.insert) for b in bodies))
    assert batcher.batches == 1 and wakes == [1]
    fut = asyncio.get_running_loop().create_future()
    body = VocSubmission(channel="app", text="지점 방문했는데 대기 시간이 너무 길었습니다", channel_message_id="w-one")
    args = await _args(pool, deps, outbox, body)
    await batcher._one(args, fut)  # noqa: SLF001 - the path a failed batch takes for each case
    assert await fut is True and wakes == [1, 1]
    await batcher.close()


async def _args(pool, deps, outbox, body) -> tuple:
    captured: list[tuple] = []

    async def capture(args: tuple) -> bool:
        captured.append(args)
        return True

    await submit_voc(pool, deps, outbox, body, idempotency_key=None, submitted_by="test", insert=capture)
    return captured[0]


async def test_concurrent_requests_share_each_block_of_tracking_numbers(pool):
    """Requests that find the block used up wait for one refill instead of each fetching a
    block of its own and throwing the rest away: no number is skipped, one round trip per block."""
    from services.intake.adapters.repository import TrackingNumbers

    tracking = TrackingNumbers(block=50)
    got = await asyncio.gather(*(tracking.next(pool) for _ in range(200)))
    assert sorted(got) == list(range(min(got), min(got) + 200))
    assert tracking.fetches == 4


async def test_a_retry_of_a_request_accepted_before_keys_were_scoped_finds_its_case(pool):
    """Versions before apikeys.scoped_key stored an HTTP Idempotency-Key raw; a retry of such a request
    after the upgrade (its key now stored as http:<name>:<key>) finds that case, through the group commit
    and alone, and another channel system's same raw key is not taken for it."""
    from services.intake.domain.apikeys import scoped_key

    outbox = Outbox("intake", "moksori/intake")

    async def dispatch(rows):
        pass

    batcher = AcceptBatcher(pool, dispatch=dispatch, max_wait_s=0.01, wake=lambda: None)
    deps = IntakeDeps(cipher=PiiCipher.from_spec(PiiCipher.generate_spec()), access_key="k" * 32,
                      calendar=load_calendar(), response_days=3)
    body = VocSubmission(channel="app", text="앱 로그인하면 자꾸 튕겨요. 업데이트 후부터 그래요")
    old = await submit_voc(pool, deps, outbox, body, idempotency_key="retry-77", submitted_by="card-app")  # as before
    assert old.status == "accepted"
    for insert in (batcher.insert, None):
        again = await submit_voc(pool, deps, outbox, body, idempotency_key=scoped_key("card-app", "retry-77"),
                                 legacy_key="retry-77", submitted_by="card-app", insert=insert)
        assert again.status == "replayed" and again.response["case_id"] == old.response["case_id"]
        other = await submit_voc(pool, deps, outbox, body.model_copy(update={"text": "다른 내용의 민원입니다"}),
                                 idempotency_key=scoped_key("card-app", "retry-77"), legacy_key="retry-77",
                                 submitted_by="card-app", insert=insert)
        assert other.status == "conflict"
    # another system's same spelling is its own key: a case of its own
    theirs = await submit_voc(pool, deps, outbox, body, idempotency_key=scoped_key("web-gw", "retry-77"),
                              legacy_key="retry-77", submitted_by="web-gw", insert=batcher.insert)
    assert theirs.status == "accepted" and theirs.response["case_id"] != old.response["case_id"]
    assert await pool.fetchval("SELECT count(*) FROM intake.cases") == 2


async def test_one_bad_case_does_not_fail_the_others_in_its_batch(pool):
    """The batch is one statement: a row the database refuses fails all of it, so each case is then
    inserted on its own; the good ones are accepted and only the bad one's caller gets the error."""
    outbox = Outbox("intake", "moksori/intake")
    dispatched: list[list] = []

    async def dispatch(rows):
        dispatched.append(rows)

    batcher = AcceptBatcher(pool, dispatch=dispatch, max_wait_s=0.05, wake=lambda: None)
    deps = IntakeDeps(cipher=PiiCipher.from_spec(PiiCipher.generate_spec()), access_key="k" * 32,
                      calendar=load_calendar(), response_days=3)
    args = [await _args(pool, deps, outbox, VocSubmission(channel="app", text=t, channel_message_id=f"b-{i}"))
            for i, t in enumerate(TEXTS)]
    bad = list(args[1])
    bad[5] = None  # request_hash is NOT NULL
    results = await asyncio.gather(*(batcher.insert(a) for a in (args[0], tuple(bad), args[2])),
                                   return_exceptions=True)
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], asyncpg.NotNullViolationError)
    assert batcher.batches == 0  # the batch statement failed; each case went on its own
    ids = {r["id"] for r in await pool.fetch("SELECT id FROM intake.cases")}
    assert ids == {args[0][0], args[2][0]}
    assert await pool.fetchval("SELECT count(*) FROM intake.outbox") == 4
    await batcher.close()
