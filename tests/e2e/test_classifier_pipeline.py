"""The classifier in the running system: action requests for emergencies, repeat
complaints, emotion alerts during a call, and corrections kept for retraining."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import nats
import pytest

from services import devrun
from shared.cloudevents import encode, envelope_for
from shared.events import SttSegment, case_id_for_call

pytestmark = pytest.mark.e2e


async def collect(nc, subject: str) -> asyncio.Queue:
    queue: asyncio.Queue = asyncio.Queue()

    async def on_msg(msg) -> None:
        await queue.put((msg.subject, json.loads(msg.data)))

    await nc.subscribe(subject, cb=on_msg)
    return queue


async def wait_for(queue: asyncio.Queue, match, timeout: float = 15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        subject, data = await asyncio.wait_for(queue.get(), max(0.01, deadline - asyncio.get_running_loop().time()))
        if match(data):
            return subject, data


async def submit(http, text: str, **extra) -> str:
    r = await http["intake"].post("/v1/voc", json={"channel": "app", "text": text, **extra})
    assert r.status_code == 202, r.text
    return r.json()["case_id"]


async def classification(db, case_id: str, timeout: float = 15.0) -> dict:
    for _ in range(int(timeout * 10)):
        row = await db.fetchval("SELECT result FROM classifier.classifications WHERE case_id = $1", uuid.UUID(case_id))
        if row:
            return json.loads(row) if isinstance(row, str) else row
        await asyncio.sleep(0.1)
    raise AssertionError(f"{case_id} was not classified")


async def test_critical_card_loss_and_phishing_request_a_card_block_and_a_payment_stop(system, http):
    nc = await nats.connect(system.nats_url)
    actions = await collect(nc, "voc.action.>")
    card = await submit(http, "어제 지하철에서 지갑을 통째로 잃어버렸는데 신용카드가 들어 있었어요 빨리 정지해 주세요")
    scam = await submit(http, "검찰 수사관이라는 사람 말에 속아서 방금 안전계좌라는 곳으로 800만원을 이체했어요 어떡해요 ㅠㅠ")
    calm = await submit(http, "카드 연회비가 언제 청구되는지 궁금합니다")
    subject, block = await wait_for(actions, lambda d: d["case_id"] == card)
    assert subject == "voc.action.card.block" and block["evidence"] and "잃어버" in block["evidence"][0]["text"]
    subject, freeze = await wait_for(actions, lambda d: d["case_id"] == scam)
    assert subject == "voc.action.bank.freeze" and freeze["tracking_code"]
    await asyncio.sleep(1.0)
    while not actions.empty():
        _, extra = actions.get_nowait()
        assert extra["case_id"] != calm  # a routine inquiry requests nothing
    await nc.drain()


async def test_the_same_customers_second_complaint_on_a_topic_is_a_repeat_and_more_urgent(system, http, db):
    customer = f"김민수 010-{uuid.uuid4().int % 9000 + 1000}-5678"
    first = await submit(http, "앱 업데이트 후에 로그인하면 계속 튕겨서 이체를 못 하고 있어요 진짜 짜증나네요",
                         customer=customer)
    c1 = await classification(db, first)
    second = await submit(http, "오늘도 앱 로그인이 안 돼서 결국 이체를 못 했습니다 너무 화가 납니다",
                          customer=customer.replace(" ", ""))
    c2 = await classification(db, second)
    other = await submit(http, "앱 로그인 오류 때문에 이체를 못 했어요 빨리 고쳐 주세요", customer="이영희 010-9999-0000")
    c3 = await classification(db, other)
    assert c1["kind"] == c2["kind"] == "complaint" and c1["topic"] == c2["topic"] == "digital_service"
    assert c1["repeat_count"] == 0 and c2["repeat_count"] == 1 and c3["repeat_count"] == 0
    order = ["low", "normal", "high", "critical"]
    assert order.index(c2["urgency"]) == order.index(c1["urgency"]) + 1
    for _ in range(100):
        facts = {r["case_id"]: (r["repeat"], r["duplicate"]) for r in await db.fetch(
            "SELECT case_id, repeat, duplicate FROM feedback.case_facts WHERE case_id = ANY($1::uuid[])",
            [uuid.UUID(first), uuid.UUID(second)])}
        if len(facts) == 2 and None not in (*facts[uuid.UUID(first)], *facts[uuid.UUID(second)]):
            break
        await asyncio.sleep(0.1)
    # routing carried it on CaseRouted: a repeat on record, so 환산건수 counts the customer's complaint once
    assert facts[uuid.UUID(second)] == (True, True) and facts[uuid.UUID(first)][1] is False


async def test_rising_anger_in_a_live_call_alerts_the_supervisor_once(system, http):
    call_id = f"CALL-{uuid.uuid4().hex[:10]}"
    nc = await nats.connect(system.nats_url)
    js = nc.jetstream()
    alerts = await collect(nc, "voc.alert.card.>")
    t0 = datetime.now(UTC)
    turns = ["아 네 결제 취소 건 때문에 전화했는데요", "아니 지난주에도 그렇게 말씀하셨잖아요 짜증나네 진짜",
             "지금 장난해요? 도대체 언제 해주는데요", "책임자 바꿔요 당장", "아니 화가 나서 말이 안 나오네"]
    for seq, text in enumerate(turns):
        msg = SttSegment(call_id=call_id, seq=seq, speaker="customer", text=text, ts=t0 + timedelta(seconds=seq),
                         affiliate="card")
        subject, body, headers = encode(msg, envelope_for(msg, source="stt/callcenter-1"))
        await js.publish(subject, body, headers=headers)
    subject, alert = await wait_for(alerts, lambda d: d.get("call_id") == call_id and d["reason"] == "emotion")
    assert subject == "voc.alert.card.emotion" and "상급자" in alert["message"]
    assert alert["case_id"] == str(case_id_for_call(call_id)) and alert["evidence"]
    await asyncio.sleep(1.0)
    while not alerts.empty():
        _, extra = alerts.get_nowait()
        assert not (extra.get("call_id") == call_id and extra["reason"] == "emotion"), "one emotion alert per call"
    await nc.drain()
    office = devrun.dashboard_headers(system.var)
    for _ in range(100):  # the operator dashboard shows it too, though only a warning: the call is going on
        board = (await http["feedback"].get("/v1/dashboard", headers=office)).json()
        shown = [a for a in board["alerts"] if a["call_id"] == call_id]
        if shown:
            break
        await asyncio.sleep(0.1)
    assert [(a["reason"], a["severity"]) for a in shown] == [("emotion", "warning")]


async def test_a_watch_word_cut_in_two_by_the_stt_alerts_while_the_call_goes_on(system, http):
    """STT cuts speech at pauses: "금감원에" ends one segment and "민원 넣을 거예요" starts the next. Before, each
    segment was screened alone and neither showed the customer escalating."""
    call_id = f"CALL-{uuid.uuid4().hex[:10]}"
    nc = await nats.connect(system.nats_url)
    js = nc.jetstream()
    alerts = await collect(nc, "voc.alert.card.>")
    t0 = datetime.now(UTC)
    turns = [("customer", "아 네 그게요 카드 연회비가 두 번 나가서요 이거 계속 안 해주시면 저 금감원에"),
             ("customer", "민원 넣을 거예요 진짜로")]
    for seq, (speaker, text) in enumerate(turns):
        msg = SttSegment(call_id=call_id, seq=seq, speaker=speaker, text=text, ts=t0 + timedelta(seconds=seq),
                         affiliate="card")
        subject, body, headers = encode(msg, envelope_for(msg, source="stt/callcenter-1"))
        await js.publish(subject, body, headers=headers)
    subject, alert = await wait_for(alerts, lambda d: d.get("call_id") == call_id and d["reason"] == "regulator")
    assert subject == "voc.alert.card.regulator" and alert["message"].startswith("[통화 중]")
    [evidence] = alert["evidence"]
    assert "금감원" in evidence["text"] and "민원" in evidence["text"] and evidence["start"] < 0  # begun before
    await nc.drain()


async def test_a_team_correction_is_stored_and_exported_for_training(system, http, db, tmp_path):
    case_id = await submit(http, "카드 결제했는데 포인트 적립이 하나도 안 됐어요", affiliate="card")
    decided = (await classification(db, case_id))["topic"]
    corrected = "card_payment" if decided == "points_benefits" else "points_benefits"
    for _ in range(100):
        if (await http["routing"].get(f"/v1/cases/{case_id}")).status_code == 200:
            break
        await asyncio.sleep(0.1)
    r = await http["routing"].post(f"/v1/cases/{case_id}/reclassify",
                                   json={"kind": "complaint", "topic": corrected, "by": "카드 VOC팀 김민지"})
    assert r.status_code == 200 and r.json()["status"] == "recorded", r.text
    for _ in range(100):
        row = await db.fetchrow("SELECT topic, corrected_by FROM classifier.corrections WHERE case_id = $1",
                                uuid.UUID(case_id))
        if row:
            break
        await asyncio.sleep(0.1)
    assert row and row["topic"] == corrected
    out = tmp_path / "corrections.jsonl"
    done = subprocess.run([sys.executable, "-m", "services.cli", "classify", "corrections", "--output", str(out)],
                          env={**os.environ, "DATABASE_URL": system.database_url}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    mine = [r for r in rows if r["id"] == f"correction-{case_id}"]
    assert mine and mine[0]["topic"] == corrected and mine[0]["register"] == "correction"
    assert "포인트 적립" in mine[0]["text"]

