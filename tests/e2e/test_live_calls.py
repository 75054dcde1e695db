"""Live STT segments: screened while the call is going on, assembled into one case at its end."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import nats
import pytest

from shared.cloudevents import encode, envelope_for
from shared.events import CallEnded, SttSegment, case_id_for_call

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)

CALL = [
    (0, "agent", "네 감사합니다 목소리카드 상담원 김민지입니다"),
    (1, "customer", "아 네 그게요 지난달 연회비가 두 번 빠져나갔는데요"),
    (2, "agent", "아 네 고객님 확인해 보겠습니다"),
    (3, "customer", "벌써 세 번째 전화예요 제 번호 010-4567-8910 으로 연락 준다더니"),
    (4, "customer", "이번에도 안 되면 금감원에 민원 넣을 거예요"),
    (5, "agent", "불편 드려 죄송합니다 바로 처리해 드리겠습니다"),
]


async def publish(js, msg):
    subject, body, headers = encode(msg, envelope_for(msg, source="stt/callcenter-1"))
    await js.publish(subject, body, headers=headers)


async def test_alert_is_raised_during_the_call_and_the_call_becomes_one_case(system, http, db):
    call_id = f"CALL-{uuid.uuid4().hex[:10]}"
    nc = await nats.connect(system.nats_url)
    js = nc.jetstream()
    alerts: asyncio.Queue = asyncio.Queue()

    async def on_alert(msg):
        await alerts.put(json.loads(msg.data))

    await nc.subscribe("voc.alert.>", cb=on_alert)
    order = [3, 0, 2, 1, 1, 4]  # out of order, with a duplicate
    for i in order:
        seq, speaker, text = CALL[i]
        await publish(js, SttSegment(call_id=call_id, seq=seq, speaker=speaker, text=text,
                                     ts=T0 + timedelta(seconds=seq * 5)))
    alert = await asyncio.wait_for(alerts.get(), 10)
    while alert.get("call_id") != call_id:
        alert = await asyncio.wait_for(alerts.get(), 10)
    assert alert["reason"] == "regulator" and alert["case_id"] == str(case_id_for_call(call_id))
    assert not await db.fetchval("SELECT count(*) FROM intake.cases WHERE channel_message_id = $1", call_id)

    await publish(js, SttSegment(call_id=call_id, seq=5, speaker="agent", text=CALL[5][2], ts=T0 + timedelta(seconds=25)))
    await publish(js, CallEnded(call_id=call_id, ended_at=T0 + timedelta(minutes=3), affiliate="card",
                                customer="홍길동"))
    for _ in range(100):
        row = await db.fetchrow("SELECT id, text_masked, status FROM intake.cases WHERE channel_message_id = $1",
                                call_id)
        if row and row["status"] != "received":
            break
        await asyncio.sleep(0.1)
    assert row["id"] == case_id_for_call(call_id)
    text = row["text_masked"]
    assert "4567-8910" not in text
    assert text.index("연회비") < text.index("세 번째") < text.index("금감원")  # in seq order, once each
    assert text.count("연회비가 두 번") == 1
    classified = await db.fetchval("SELECT result FROM classifier.classifications WHERE case_id = $1", row["id"])
    assert "regulator" in json.loads(classified)["flags"] if isinstance(classified, str) else classified["flags"]
    await nc.drain()


async def test_a_call_whose_id_a_channel_already_used_still_becomes_its_own_case(system, http, db):
    """A call-centre system posted a case with the call's id as its channel_message_id before the call
    ended: the call's case, whose id its alerts carry, must still open (it used to be left unopened,
    with the call pointing at a case that did not exist)."""
    call_id = f"CALL-{uuid.uuid4().hex[:10]}"
    posted = await http["intake"].post("/v1/voc", json={
        "channel": "phone", "channel_message_id": call_id, "affiliate": "card",
        "text": "[상담메모] 고객 연회비 이중 출금 문의, 콜백 요청함"})
    assert posted.status_code == 202, posted.text
    nc = await nats.connect(system.nats_url)
    js = nc.jetstream()
    for seq, speaker, text in CALL:
        await publish(js, SttSegment(call_id=call_id, seq=seq, speaker=speaker, text=text,
                                     ts=T0 + timedelta(seconds=seq * 5)))
    await publish(js, CallEnded(call_id=call_id, ended_at=T0 + timedelta(minutes=3), affiliate="card",
                                outcome="complaint"))
    for _ in range(100):
        row = await db.fetchrow("SELECT c.case_id, s.status FROM intake.calls c "
                                "LEFT JOIN intake.cases s ON s.id = c.case_id WHERE c.call_id = $1", call_id)
        if row and row["status"] not in (None, "received"):
            break
        await asyncio.sleep(0.1)
    assert row["case_id"] == case_id_for_call(call_id) and row["status"] is not None
    assert str(row["case_id"]) != posted.json()["case_id"]
    await nc.drain()


async def test_a_call_without_voc_or_alert_creates_no_case(system, db):
    call_id = f"CALL-{uuid.uuid4().hex[:10]}"
    nc = await nats.connect(system.nats_url)
    js = nc.jetstream()
    await publish(js, SttSegment(call_id=call_id, seq=0, speaker="customer", text="카드 결제일 변경하려고요", ts=T0))
    await publish(js, CallEnded(call_id=call_id, ended_at=T0 + timedelta(minutes=1)))
    await asyncio.sleep(1.5)
    assert await db.fetchval("SELECT count(*) FROM intake.calls WHERE call_id = $1", call_id) == 1
    assert await db.fetchval("SELECT count(*) FROM intake.cases WHERE channel_message_id = $1", call_id) == 0
    await nc.drain()
