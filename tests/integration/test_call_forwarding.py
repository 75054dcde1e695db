"""Intake's bulk path for live call segments against real PostgreSQL: the masked copies that
screening reads are published while the batch is stored, not through the outbox, in one message
under an id derived from the segments it holds; if the publish fails, the batch's transaction
fails with it (nothing stored, nothing acked), and the copies come again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from services.intake.handlers.calls import forward_copies, on_call_ingress
from shared.cloudevents import envelope_for
from shared.consumer import Delivery
from shared.events import CallSegmentsReceived, SttSegment, case_id_for_call, segments_event_id
from shared.outbox import Outbox, PublishFailed
from shared.pii_crypto import PiiCipher

pytestmark = pytest.mark.integration

SERVICE = "intake"
T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
TURNS = [
    (0, "agent", "네 고객님 목소리은행 상담원 박서준입니다"),
    (1, "customer", "어 제 계좌 110-234-567890 에서 모르는 이체가 됐어요"),
    (1, "customer", "어 제 계좌 110-234-567890 에서 모르는 이체가 됐어요"),  # the same seq again
    (2, "customer", "연락은 010-2345-6789 로 주시고요 금감원에도 말할 거예요"),
]


def deliveries(call_id: str) -> list[Delivery]:
    out = []
    for seq, speaker, text in TURNS:
        msg = SttSegment(call_id=call_id, seq=seq, speaker=speaker, text=text, ts=T0 + timedelta(seconds=seq),
                         affiliate="bank")
        out.append(Delivery(env=envelope_for(msg, source="stt/test"), msg=msg, raw=None))  # type: ignore[arg-type]
    return out


def ingress(publish):
    deps = SimpleNamespace(cipher=PiiCipher.from_spec(PiiCipher.generate_spec()))
    return on_call_ingress(deps, Outbox("intake", "moksori/test"), publish)  # type: ignore[arg-type]


async def test_a_batch_is_stored_and_its_masked_copies_published_in_one_message(conn):
    call_id = f"CALL-{uuid.uuid4().hex[:10]}"
    published: list[tuple[CallSegmentsReceived, str]] = []

    async def publish(msgs):
        published.extend(msgs)

    process = ingress(publish)
    async with conn.transaction():
        assert await process.bulk(conn, deliveries(call_id)) == []
    [(copy, event_id)] = published  # one message for the fetched batch, the repeated seq once
    assert [s.seq for s in copy.segments] == [0, 1, 2]
    assert event_id == segments_event_id(copy.segments)
    assert {s.case_id for s in copy.segments} == {case_id_for_call(call_id)}
    texts = " ".join(s.text for s in copy.segments)
    assert "567890" not in texts and "2345-6789" not in texts and "금감원" in texts  # masked, words kept
    assert await conn.fetchval("SELECT count(*) FROM intake.call_segments WHERE call_id = $1", call_id) == 3
    assert await conn.fetchval("SELECT count(*) FROM intake.outbox") == 0  # not through the outbox
    again = ingress(publish)  # the batch redelivered as it was: the same id, for JetStream's duplicate window
    async with conn.transaction():
        await again.bulk(conn, deliveries(call_id))
    assert published[1][1] == event_id


def test_long_turns_are_forwarded_in_messages_under_nats_payload_limit():
    """A fetched batch of very long turns (5,000 characters each) is split so no message nears
    NATS's 1 MB payload limit, which would fail every publish of the batch, and it, for ever."""
    long = [SttSegment(call_id="CALL-long", seq=i, speaker="customer", text="금감원에 민원 넣겠습니다 " * 357,
                       ts=T0, affiliate="bank") for i in range(100)]
    copies = forward_copies(long)
    assert len(copies) > 1 and max(len(m.model_dump_json().encode()) for m, _ in copies) < 300 * 1024
    assert [s.seq for m, _ in copies for s in m.segments] == list(range(100))


async def test_a_failed_publish_fails_the_batch_and_the_retry_forwards_under_the_same_ids(conn):
    call_id = f"CALL-{uuid.uuid4().hex[:10]}"

    async def down(msgs):
        raise PublishFailed("1 of 3 publishes failed: nats: no responders")

    with pytest.raises(PublishFailed):
        async with conn.transaction():
            await ingress(down).bulk(conn, deliveries(call_id))
    assert await conn.fetchval("SELECT count(*) FROM intake.call_segments WHERE call_id = $1", call_id) == 0
    # the consumer then takes each message on its own, through the outbox, under ids from call and seq
    process = ingress(down)
    for d in deliveries(call_id):
        async with conn.transaction():
            await process(conn, d)
    rows = await conn.fetch("SELECT event_id, body FROM intake.outbox ORDER BY id")
    copies = [CallSegmentsReceived.model_validate_json(r["body"]) for r in rows]
    assert [[s.seq for s in c.segments] for c in copies] == [[0], [1], [2]]  # the repeated seq once
    assert [r["event_id"] for r in rows] == [segments_event_id(c.segments) for c in copies]
