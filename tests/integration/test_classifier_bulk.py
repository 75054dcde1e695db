"""The classifier's batch write path against real PostgreSQL: a fetched batch's classifications and
outgoing events in one statement of its own (autocommit) must leave exactly what classifying and
recording each case on its own in a transaction leaves, and return exactly the events it wrote,
held; what it does not take (a complaint with a customer key, whose repeats are counted, and a
case's second event) is left for the one-at-a-time path, in order."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.classifier.adapters.loader import build_classifier
from services.classifier.handlers.events import OnReceived
from shared.cloudevents import envelope_for
from shared.consumer import Delivery
from shared.events import VocReceived
from shared.outbox import Outbox

pytestmark = pytest.mark.integration

SERVICE = "classifier"

TEXTS = [  # every register; two of them critical (a lost card, a scam), so action requests go out too
    ("app", "카드를 잃어버렸어요 지금 누가 결제하고 있어요 빨리 정지해 주세요"),
    ("phone", "어 그러니까 제가 검찰청 직원이라는 사람 전화 받고 이체를 했는데 이게 보이스피싱 같아요 지급정지 해주세요"),
    ("email", "안녕하십니까. 지난달 가입한 펀드의 설명이 충분하지 않았습니다. 금융감독원에 민원을 제기할 예정입니다."),
    ("chat", "앱 로그인이 자꾸 튕겨요ㅠㅠ 업데이트 햇는데도 안되요"),
    ("branch", "고객 내점. ATM 현금 인출 오류로 통장 정리 요청. 친절 응대 칭찬함."),
    ("web", "포인트 적립 기준을 알기 쉽게 안내해 주시면 좋겠습니다."),
]


@pytest.fixture(scope="module")
def classifier():
    return build_classifier()


def received(case_id: uuid.UUID, channel: str, text: str, customer_key: str | None = None, seq: int = 1) -> Delivery:
    now = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    msg = VocReceived(case_id=case_id, tracking_code=f"VOC-2026-{seq:06d}", channel=channel,
                      text=text, customer_key=customer_key, customer_ref="010-****-1234" if customer_key else None,
                      received_at=now, first_response_due=now + timedelta(days=3))
    return Delivery(env=envelope_for(msg, source="moksori/test"), msg=msg, raw=None)  # type: ignore[arg-type]


async def _apply(conn, handler: OnReceived, batch: list[Delivery], bulk: bool) -> list[Delivery]:
    handler.prepare(batch)
    rest, own = await handler.one_statement(conn, batch, 5.0) if bulk else (batch, [])
    held = await conn.fetch("SELECT id, event_id, subject, headers, body FROM classifier.outbox "
                            "WHERE held_until > now() + interval '4 seconds' ORDER BY id")
    assert [tuple(r) for r in own] == [tuple(r) for r in held]  # what it wrote, and nothing else, held
    await conn.execute("UPDATE classifier.outbox SET held_until = NULL")  # dispatched, as the consumer would
    async with conn.transaction():
        for d in rest:
            await handler(conn, d)
    assert not await conn.fetchval("SELECT count(*) FROM classifier.outbox WHERE held_until IS NOT NULL")
    return rest


async def _state(conn, cases: list[uuid.UUID]) -> tuple:
    rows = sorted(tuple(r) for r in await conn.fetch(
        "SELECT case_id, kind, topic, urgency, flags, affiliate, sentiment, result, model_version, text, repeat_count "
        "FROM classifier.classifications WHERE case_id = ANY($1)", cases))
    events = []
    for r in await conn.fetch("SELECT subject, headers, body FROM classifier.outbox "
                              "WHERE headers->>'ce-subject' = ANY($1) ORDER BY id", [str(c) for c in cases]):
        body = json.loads(r["body"])
        body.pop("at", None)
        events.append((r["subject"], r["headers"]["ce-type"], r["headers"]["ce-subject"], json.dumps(body, sort_keys=True)))
    return rows, events


async def test_a_batch_written_in_one_statement_leaves_what_one_at_a_time_leaves(conn, classifier):
    handler = OnReceived(Outbox("classifier", "moksori/test"), classifier, repeat_window_days=30)
    results = {}
    for way in ("bulk", "one"):
        cases = [uuid.uuid5(uuid.NAMESPACE_URL, f"{way}-{i}") for i in range(len(TEXTS))]
        batch = [received(c, ch, t, seq=i) for i, (c, (ch, t)) in enumerate(zip(cases, TEXTS))]
        rest = await _apply(conn, handler, batch, bulk=way == "bulk")
        if way == "bulk":
            assert rest == []
        rows, events = await _state(conn, cases)
        # compare across the two runs by position, not by the (different) case ids
        index = {str(c): i for i, c in enumerate(cases)}
        results[way] = (sorted((index[str(r[0])], *r[1:]) for r in rows),
                        [(s, t, index[c], b.replace(c, "CASE")) for s, t, c, b in events])
    assert results["bulk"][0] == results["one"][0]
    assert sorted(results["bulk"][1]) == sorted(results["one"][1])
    types = [t for _, t, _, _ in results["bulk"][1]]
    assert types.count("kr.moksori.voc.classified.v1") == len(TEXTS)
    assert any("card_block" in t or "cardblock" in t.replace("_", "") for t in types), types
    assert any("freeze" in t for t in types), types
    assert any(t.startswith("kr.moksori.alert") for t in types), types


async def test_repeat_complaints_and_second_events_are_left_in_order_and_nothing_goes_out_twice(conn, classifier):
    handler = OnReceived(Outbox("classifier", "moksori/test"), classifier, repeat_window_days=30)
    first, repeat, other, already = (uuid.uuid4() for _ in range(4))
    complaint = "카드 결제가 두 번 됐는데 환불이 아직도 안 됐습니다 너무 화가 나네요"
    await _apply(conn, handler, [received(already, "app", TEXTS[3][1]), received(first, "app", complaint, "cust-1")],
                 bulk=True)
    batch = [received(repeat, "app", complaint, "cust-1"), received(other, "web", TEXTS[5][1]),
             received(already, "app", TEXTS[3][1]),  # classified before, under another event id
             received(other, "web", TEXTS[5][1])]  # the same case again in this batch
    rest = await _apply(conn, handler, batch, bulk=True)
    assert rest == [batch[0], batch[3]]
    assert await conn.fetchval("SELECT repeat_count FROM classifier.classifications WHERE case_id = $1", repeat) == 1
    counts = dict(await conn.fetch(
        "SELECT headers->>'ce-subject', count(*) FROM classifier.outbox WHERE headers->>'ce-type' = "
        "'kr.moksori.voc.classified.v1' GROUP BY 1"))
    assert {k: counts[str(k)] for k in (first, repeat, other, already)} == {first: 1, repeat: 1, other: 1, already: 1}
    # the consumer keeps no inbox rows for VocReceived (OnReceived.idempotent): a complaint delivered
    # again is classified again, but records nothing and sends nothing a second time
    redelivered = received(repeat, "app", complaint, "cust-1")
    assert handler.idempotent(redelivered)
    await _apply(conn, handler, [redelivered], bulk=False)
    assert await conn.fetchval("SELECT count(*) FROM classifier.customer_topics WHERE case_id = $1", repeat) == 1
    assert await conn.fetchval("SELECT repeat_count FROM classifier.classifications WHERE case_id = $1", repeat) == 1
    assert await conn.fetchval("SELECT count(*) FROM classifier.outbox WHERE headers->>'ce-subject' = $1 AND "
                               "headers->>'ce-type' = 'kr.moksori.voc.classified.v1'", str(repeat)) == 1
