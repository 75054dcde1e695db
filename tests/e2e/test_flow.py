"""A Korean complaint from HTTP submission to the customer's rating, across four processes."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import nats
import pytest

from shared.bus import team_durable
from shared.cloudevents import encode, envelope_for

pytestmark = pytest.mark.e2e

COMPLAINT = {
    "channel": "app", "affiliate": "card", "customer": "홍길동 010-2345-6789",
    "text": "지난달 카드 연회비가 두 번 청구됐어요. 벌써 세 번째 문의인데 아직도 환불이 안 됐습니다. "
            "제 연락처는 010-2345-6789 입니다. 이번 주 안에 해결 안 되면 금감원에 민원 넣겠습니다.",
}


async def collect(nc, subject: str) -> asyncio.Queue:
    queue: asyncio.Queue = asyncio.Queue()

    async def on_msg(msg) -> None:
        await queue.put(json.loads(msg.data))

    await nc.subscribe(subject, cb=on_msg)
    return queue


async def pull_case(js, affiliate: str, team: str, case_id: str, timeout: float = 15.0):
    """What an affiliate team does: bind to its durable pull consumer, fetch, ack."""
    sub = await js.pull_subscribe_bind(team_durable(affiliate, team), stream="VOC_ROUTED")
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            msgs = await sub.fetch(10, timeout=1)
        except nats.errors.TimeoutError:
            continue
        for m in msgs:
            await m.ack()
            if json.loads(m.data)["case_id"] == case_id:
                return m
    raise AssertionError(f"case {case_id} never reached {affiliate}.{team}")


async def wait_status(http, code: str, secret: str, want: str, timeout: float = 15.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = (await http.get(f"/v1/voc/{code}", headers={"X-Case-Secret": secret})).json()
        if body.get("status") == want or asyncio.get_running_loop().time() > deadline:
            assert body.get("status") == want, body
            return body
        await asyncio.sleep(0.1)


async def test_complaint_is_received_classified_routed_resolved_and_rated(system, http):
    nc = await nats.connect(system.nats_url)
    js = nc.jetstream()
    surveys = await collect(nc, "voc.feedback.survey_requested")

    r = await http["intake"].post("/v1/voc", json=COMPLAINT)
    assert r.status_code == 202, r.text
    accepted = r.json()
    case_id, code, secret = accepted["case_id"], accepted["tracking_code"], accepted["access_secret"]
    assert code.startswith("VOC-20") and accepted["first_response_due"]

    routed = await pull_case(js, "card", "general", case_id)
    assert routed.headers["ce-type"] == "kr.moksori.case.routed.v1"
    assert routed.headers["ce-subject"] == case_id
    assert routed.headers["Nats-Msg-Id"] == routed.headers["ce-id"]
    case = json.loads(routed.data)
    assert (case["kind"], case["topic"], case["urgency"], case["flags"]) == ("complaint", "card_payment", "high",
                                                                            ["regulator"])
    assert "010-2345-6789" not in routed.data.decode()  # masked before it left intake
    copy = await pull_case(js, "group", "consumer_protection", case_id)
    assert json.loads(copy.data)["copy_reason"] == ["regulator"]

    r = await http["routing"].post(f"/v1/cases/{case_id}/acknowledge",
                                   json={"handler_name": "김민지", "handler_contact": "02-1588-0000"})
    assert r.status_code == 200, r.text
    r = await http["routing"].post(f"/v1/cases/{case_id}/resolve",
                                   json={"resolution": "중복 청구된 연회비 환불 완료했습니다."})
    assert r.status_code == 200, r.text

    survey = await asyncio.wait_for(surveys.get(), 15)
    assert survey["case_id"] == case_id and survey["delivery"] == "app_push"
    r = await http["feedback"].post("/v1/feedback", json={"token": survey["token"], "csat": 4, "nps": 8, "ces": 2,
                                                          "comment": "처리는 빨랐어요. 연락은 010-2345-6789로"})
    assert r.status_code == 201, r.text

    status = await wait_status(http["intake"], code, secret, "closed")
    steps = [t["status"] for t in status["timeline"]]
    for step in ("received", "classified", "routed", "acknowledged", "resolved", "rated", "closed"):
        assert step in steps
    assert steps.index("received") < steps.index("routed") < steps.index("resolved") < steps.index("rated") \
        < steps.index("closed")
    assert any("김민지" in t["message"] for t in status["timeline"])
    assert "010-2345-6789" not in json.dumps(status, ensure_ascii=False)
    await nc.drain()


async def test_lifecycle_and_rating_commands_over_nats(system, http):
    from shared.cloudevents import encode, envelope_for
    from shared.bus import team_command_subject
    from shared.events import AcknowledgeCase, ResolveCase, SubmitFeedback

    nc = await nats.connect(system.nats_url)
    js = nc.jetstream()
    surveys = await collect(nc, "voc.feedback.survey_requested")
    r = await http["intake"].post("/v1/voc", json={
        "channel": "phone", "text": "아 네 그 적금 자동이체 날짜를 바꾸고 싶은데요 어떻게 하나요", "affiliate": "bank"})
    accepted = r.json()
    case_id = accepted["case_id"]
    await pull_case(js, "bank", "general", case_id)

    async def send(cmd, team=None):  # a team publishes on its affiliate's own subjects
        subject, body, headers = encode(cmd, envelope_for(cmd, source=f"team/{team}" if team else "moksori/test"))
        await js.publish(team_command_subject(team, subject) if team else subject, body, headers=headers)

    dead = await js.subscribe("voc.dlq.routing-team-commands", ordered_consumer=True)
    told = await js.subscribe("voc.alert.*.dead_letter", ordered_consumer=True)
    await send(ResolveCase(case_id=case_id, resolution="카드팀이 처리 완료로 바꿔 봅니다", staff_id="C2019114"),
               team="card")
    refused = await dead.next_msg(timeout=15)  # the card team cannot act on the bank's case
    assert f"no case {case_id} for card" in refused.headers["moksori-dlq-reason"]
    alert = await told.next_msg(timeout=15)  # on the card supervisors' subject: their team must send it again
    assert alert.subject == "voc.alert.card.dead_letter"
    assert "routing-team-commands" in json.loads(alert.data)["message"]
    await send(AcknowledgeCase(case_id=case_id, handler_name="박상담", handler_contact="1588-9999"), team="bank")
    refused = await dead.next_msg(timeout=15)  # a team's step names the employee who takes it
    assert "AcknowledgeCase from bank names no staff_id" in refused.headers["moksori-dlq-reason"]
    await send(AcknowledgeCase(case_id=case_id, handler_name="박상담", handler_contact="1588-9999",
                               staff_id="B2015032"), team="bank")
    await send(ResolveCase(case_id=case_id, resolution="자동이체일 25일로 변경 완료", staff_id="B2015032"), team="bank")
    survey = await asyncio.wait_for(surveys.get(), 15)
    await send(SubmitFeedback(case_id=case_id, token=survey["token"], csat=5, nps=10, ces=1))
    await wait_status(http["intake"], accepted["tracking_code"], accepted["access_secret"], "closed")
    await nc.drain()


async def test_malformed_nats_message_is_dead_lettered(system):
    nc = await nats.connect(system.nats_url)
    js = nc.jetstream()
    dead = await js.subscribe("voc.dlq.classifier", ordered_consumer=True)
    await js.publish("voc.received", b"\xff not an event", headers={"ce-type": "kr.moksori.voc.received.v1"})
    msg = await dead.next_msg(timeout=15)
    assert "missing CloudEvents header" in msg.headers["moksori-dlq-reason"]
    for _ in range(50):  # terminated right after the dead-letter publish, so never redelivered
        info = await js.consumer_info("VOC_INTAKE", "classifier")
        if info.num_ack_pending == 0:
            break
        await asyncio.sleep(0.1)
    assert info.num_ack_pending == 0 and info.num_redelivered == 0
    await nc.drain()


async def test_status_follows_events_within_a_second(system, http):
    """The customer-facing status is a read model; an acknowledgement shows up in under 1 s."""
    import time

    r = await http["intake"].post("/v1/voc", json={"channel": "app", "affiliate": "bank",
                                                   "text": "모바일 앱에서 이체 한도 변경이 안 돼요"})
    accepted = r.json()
    for _ in range(100):
        if (await http["routing"].get(f"/v1/cases/{accepted['case_id']}")).status_code == 200:
            break
        await asyncio.sleep(0.05)
    t0 = time.perf_counter()
    await http["routing"].post(f"/v1/cases/{accepted['case_id']}/acknowledge",
                               json={"handler_name": "이서연", "handler_contact": "1588-0000"})
    await wait_status(http["intake"], accepted["tracking_code"], accepted["access_secret"], "acknowledged",
                      timeout=5)
    assert time.perf_counter() - t0 < 1.0


async def test_a_redelivered_classification_routes_once(system, db):
    from shared.events import Classification, VocClassified

    nc = await nats.connect(system.nats_url)
    js = nc.jetstream()
    cls = Classification(kind="complaint", topic="loan", urgency="normal", affiliate="bank", sentiment="negative",
                         confidence={})
    case_id = uuid.uuid4()
    msg = VocClassified(case_id=case_id, tracking_code="VOC-2026-999999", channel="web", text="대출 금리 문의",
                        received_at=datetime.now(UTC), classification=cls, model_version="rules")
    subject, body, headers = encode(msg, envelope_for(msg, source="moksori/classifier"))
    await js.publish(subject, body, headers=headers)
    await js.publish(subject, body, headers={**headers, "Nats-Msg-Id": "bypass-dedupe"})  # same ce-id again
    await asyncio.sleep(1.5)
    assert await db.fetchval("SELECT count(*) FROM routing.cases WHERE case_id = $1", case_id) == 1
    assert await _routed_events(js, case_id) == 1
    await nc.drain()


async def _routed_events(js, case_id: uuid.UUID) -> int:
    """The CaseRouted events VOC_ROUTED holds for a case (the outbox rows are gone once published;
    the stream drops a re-publish of the same event id)."""
    sub = await js.pull_subscribe("voc.routed.>", stream="VOC_ROUTED")  # ephemeral, from the first message
    n = 0
    try:
        while True:
            try:
                msgs = await sub.fetch(500, timeout=1.0)
            except nats.errors.TimeoutError:
                return n
            n += sum(1 for m in msgs if (m.headers or {}).get("ce-subject") == str(case_id))
            for m in msgs:
                await m.ack()
    finally:
        await sub.unsubscribe()
