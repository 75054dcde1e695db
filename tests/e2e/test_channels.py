"""Channels beyond the JSON form: raw e-mail over HTTP and partner CloudEvents over NATS."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nats
import pytest

from shared.cloudevents import envelope_for
from shared.events import Turn, VocSubmitted, partner_subject

pytestmark = pytest.mark.e2e
EMAIL = Path(__file__).parent.parent / "fixtures" / "email"


async def test_raw_euc_kr_email_becomes_one_case(http, db):
    raw = (EMAIL / "euc_kr_plain.eml").read_bytes()
    r1 = await http["intake"].post("/v1/voc/email?affiliate=card", content=raw,
                                   headers={"content-type": "message/rfc822"})
    r2 = await http["intake"].post("/v1/voc/email?affiliate=card", content=raw,
                                   headers={"content-type": "message/rfc822"})
    assert r1.status_code == 202, r1.text
    assert r2.json()["case_id"] == r1.json()["case_id"]  # same Message-ID, same case
    row = await db.fetchrow("SELECT channel, text_masked, customer_ref_masked FROM intake.cases WHERE id::text = $1",
                            r1.json()["case_id"])
    assert row["channel"] == "email"
    assert "두 번 청구되었습니다" in row["text_masked"] and "7890" not in row["text_masked"]
    assert row["customer_ref_masked"] == "g***@example.co.kr"


async def test_email_needs_the_rfc822_content_type(http):
    r = await http["intake"].post("/v1/voc/email", content=b"Subject: x\r\n\r\nhello",
                                  headers={"content-type": "text/plain"})
    assert r.status_code == 415


def partner_event(voc: VocSubmitted, partner: str, source: str, id: str) -> tuple[str, bytes, dict]:
    """What a partner publishes, as the README says: on its own subject, without a Nats-Msg-Id."""
    env = envelope_for(voc, source=source, id=id)
    return (partner_subject(partner), voc.model_dump_json().encode(),
            {k: v for k, v in env.headers().items() if k != "Nats-Msg-Id"})


async def dead_letter(sub, ce_id: str):
    """The DLQ's message for the event `ce_id` (the stream also holds earlier tests' dead letters)."""
    while True:
        msg = await sub.next_msg(timeout=15)
        if msg.headers.get("ce-id") == ce_id:
            return msg


async def cases_from(db, submitted_by: str, settled: bool = True) -> list:
    for _ in range(100):
        rows = await db.fetch("SELECT id, status FROM intake.cases WHERE submitted_by = $1", submitted_by)
        if rows and (not settled or rows[0]["status"] != "received"):
            break
        await asyncio.sleep(0.1)
    return rows


async def test_partner_cloudevent_on_nats_becomes_a_case_once(system, db):
    nc = await nats.connect(system.nats_url)
    js = nc.jetstream()
    voc = VocSubmitted(channel="partner", affiliate="card", channel_message_id="PG-20261120-88812",
                       text="간편결제 앱에서 목소리카드로 결제했는데 승인 취소가 3일째 반영이 안 됩니다.",
                       transcript=(Turn(speaker="customer", text="취소했는데 카드값에 그대로 있어요"),))
    subject, body, headers = partner_event(voc, "easypay", "easypay", "evt-88812")
    assert subject == "voc.ingress.voc.easypay"
    await js.publish(subject, body, headers=headers)
    await js.publish(subject, body, headers=headers)  # a retry: intake drops it (ce-source + ce-id)
    rows = await cases_from(db, "nats:easypay")
    assert len(rows) == 1 and rows[0]["status"] in ("classified", "routed")
    # another partner whose ids happen to be the same strings sends a different VOC: a case of its own
    other = voc.model_copy(update={"text": "제휴 쇼핑몰 포인트 전환이 안 돼요. 어제부터 계속 오류가 납니다."})
    subject, body, headers = partner_event(other, "shopmall", "shopmall/voc", "evt-88812")
    await js.publish(subject, body, headers=headers)
    theirs = await cases_from(db, "nats:shopmall/voc", settled=False)
    assert len(theirs) == 1 and theirs[0]["id"] != rows[0]["id"]
    await nc.drain()


async def test_a_partner_cannot_pass_as_another(system, db):
    """On its own subject a partner's events must carry its own ce-source: one that names another
    partner is dead-lettered with the reason, and uses up none of that partner's event ids."""
    nc = await nats.connect(system.nats_url)
    js = nc.jetstream()
    dead = await js.subscribe("voc.dlq.intake-partner", ordered_consumer=True)
    voc = VocSubmitted(channel="partner", affiliate="bank", channel_message_id="GA-7001",
                       text="보험 제휴 앱에서 자동이체 계좌 변경 신청했는데 반영이 안 됐어요")
    subject, body, headers = partner_event(voc, "insure-ga", "easypay", "evt-7001")
    # even with the Nats-Msg-Id easypay's event would have if it set one: easypay sets none (README)
    await js.publish(subject, body, headers={**headers, "Nats-Msg-Id": "easypay:evt-7001"})
    msg = await dead_letter(dead, "evt-7001")
    reason = msg.headers["moksori-dlq-reason"]
    assert "ce-source 'easypay' is not partner 'insure-ga'" in reason and "voc.ingress.voc.insure-ga" in reason
    # easypay's own event with that id is still taken
    subject, body, headers = partner_event(voc, "easypay", "easypay", "evt-7001")
    await js.publish(subject, body, headers=headers)
    for _ in range(100):
        n = await db.fetchval("SELECT count(*) FROM intake.cases WHERE idempotency_key = 'easypay:evt-7001'")
        if n:
            break
        await asyncio.sleep(0.1)
    assert n == 1
    await nc.drain()


async def test_an_http_idempotency_key_cannot_take_a_partners_event_id(system, http, db):
    """A channel system's Idempotency-Key is its own: one spelled like a partner's event
    (`easypay:evt-…`) used to be the very key the partner's event is stored under, so the partner's
    VOC was refused as a reused id and dead-lettered."""
    key = "easypay:evt-9120"
    r = await http["intake"].post("/v1/voc", headers={"Idempotency-Key": key}, json={
        "channel": "app", "affiliate": "card", "text": "앱에서 카드 결제 취소했는데 승인 내역이 그대로 남아 있어요"})
    assert r.status_code == 202, r.text
    nc = await nats.connect(system.nats_url)
    voc = VocSubmitted(channel="partner", affiliate="card", channel_message_id="PG-9120",
                       text="간편결제로 교통카드 충전했는데 금액만 빠지고 충전이 안 됐습니다. 환불 부탁드립니다.")
    subject, body, headers = partner_event(voc, "easypay", "easypay", "evt-9120")
    await nc.jetstream().publish(subject, body, headers=headers)
    for _ in range(100):
        theirs = await db.fetchval("SELECT id::text FROM intake.cases WHERE idempotency_key = $1", key)
        if theirs:
            break
        await asyncio.sleep(0.1)
    assert theirs and theirs != r.json()["case_id"]  # the partner's own case, under its own key
    mine = await db.fetchval("SELECT idempotency_key FROM intake.cases WHERE id::text = $1", r.json()["case_id"])
    assert mine == f"http:e2e:{key}"  # the e2e stack's channel key is named e2e
    await nc.drain()


async def test_events_left_on_the_old_shared_subject_still_become_cases(system, db):
    """What partners published on voc.ingress.voc before they had subjects of their own is drained
    after the upgrade (intake-partner-legacy), not left in the stream."""
    nc = await nats.connect(system.nats_url)
    voc = VocSubmitted(channel="partner", affiliate="securities", channel_message_id="MTS-551",
                       text="모바일 증권 앱 제휴 화면에서 해외주식 환전이 두 번 됐습니다. 확인 부탁드립니다.")
    env = envelope_for(voc, source="partner/mts", id="evt-551")
    await nc.jetstream().publish("voc.ingress.voc", voc.model_dump_json().encode(), headers=env.headers())
    assert len(await cases_from(db, "nats:partner/mts", settled=False)) == 1
    await nc.drain()


async def test_malformed_partner_event_is_dead_lettered_naming_the_field(system):
    nc = await nats.connect(system.nats_url)
    js = nc.jetstream()
    dead = await js.subscribe("voc.dlq.intake-partner", ordered_consumer=True)
    await js.publish(partner_subject("x"), json.dumps({"channel": "partner", "customer": "010-1234-5678"}).encode(),
                     headers={"ce-specversion": "1.0", "ce-id": "bad-1", "ce-type": VocSubmitted.TYPE, "ce-source": "x"})
    msg = await dead_letter(dead, "bad-1")
    assert "text: Field required" in msg.headers["moksori-dlq-reason"]
    assert b"010-1234-5678" not in msg.data and b"010-1234-****" in msg.data  # no raw PII on the DLQ
    await nc.drain()


async def test_no_raw_personal_number_reaches_any_stream_or_log(system, http):
    """Submit PII in every field, let it flow, then grep everything captured: every stream and every log."""
    raw_values = ["850315-1234567", "4111-1111-1111-1111", "110-234-567890", "010-3456-7890",
                  "gildong.hong@example.co.kr", "M12345678"]
    r = await http["intake"].post("/v1/voc", json={
        "channel": "chat", "affiliate": "card", "customer": "홍길동 850315-1234567",
        "title": "카드 4111-1111-1111-1111 분실",
        "text": "카드 4111-1111-1111-1111 잃어버렸어요 환불은 110-234-567890 으로, 연락 010-3456-7890",
        "transcript": [{"speaker": "customer", "text": "메일은 gildong.hong@example.co.kr 여권 M12345678"}]})
    assert r.status_code == 202
    await asyncio.sleep(3)  # classified, routed, alerts, notices
    nc = await nats.connect(system.nats_url)
    js = nc.jetstream()
    seen = 0
    for info in await js.streams_info():
        if not info.config.name.startswith("VOC_") or info.config.name == "VOC_INGRESS":
            continue
        for seq in range(max(1, info.state.first_seq), info.state.last_seq + 1):
            try:
                msg = await js.get_msg(info.config.name, seq)
            except nats.js.errors.NotFoundError:
                continue
            seen += 1
            blob = (msg.data or b"").decode("utf-8", "replace") + json.dumps(msg.headers or {}, ensure_ascii=False)
            for value in raw_values:
                assert value not in blob, f"{value} leaked into {info.config.name} #{seq}"
    assert seen > 5
    await nc.drain()
    for svc in ("intake", "classifier", "routing", "feedback"):
        log = system.log(svc).read_text(errors="replace")
        for value in raw_values:
            assert value not in log, f"{value} leaked into the {svc} log"
