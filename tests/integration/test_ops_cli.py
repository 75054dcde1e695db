"""`moksori dlq list|replay` and `moksori queues` against a real nats-server.

A dead letter is made by a real IdempotentConsumer (an event of a type it does not
accept is dead-lettered before any database work), another is published exactly as
dead_letter() publishes one. The CLI runs as a subprocess: its commands call
asyncio.run, which cannot nest in the test's event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nats.js.errors import NotFoundError

from shared.bus import ConsumerSpec, dlq_subject, ensure_topology
from shared.cloudevents import encode, envelope_for
from shared.consumer import IdempotentConsumer
from shared.events import CaseResolved, FeedbackSubmitted
from shared.pii import mask_payload

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PROBE = ConsumerSpec("VOC_CASE", "ops-probe", "voc.case.resolved", "dead-letters what it cannot take")
BUSY = ConsumerSpec("VOC_CASE", "ops-busy", "voc.case.resolved", "has known pending state", ack_wait_s=60.0)
IDLE = ConsumerSpec("VOC_ALERTS", "ops-idle", "voc.alert.>", "nothing to do")
RESOLUTION = "이중 결제 취소 완료, 고객 연락처 010-1234-5678"  # a payload that must never be printed


async def moksori(nats_url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "NATS_URL": nats_url, "COLUMNS": "250"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", *args, cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode, out.decode(), err.decode()


def resolved() -> CaseResolved:
    return CaseResolved(case_id=uuid.uuid4(), affiliate="card", team="general", channel="app",
                        resolution=RESOLUTION, resolved_at=datetime.now(UTC))


async def publish(js, msg) -> tuple[str, bytes, dict[str, str]]:
    subject, body, headers = encode(msg, envelope_for(msg, source="moksori/test"))
    await js.publish(subject, body, headers=headers)
    return subject, body, headers


@pytest.fixture
async def js(clean_js):
    await ensure_topology(clean_js, consumers=(PROBE, BUSY, IDLE))
    return clean_js


async def dead_letter_through_consumer(js) -> tuple[CaseResolved, bytes, dict[str, str]]:
    """A real IdempotentConsumer that accepts only FeedbackSubmitted dead-letters a CaseResolved."""
    event = resolved()
    _, body, headers = await publish(js, event)
    consumer = IdempotentConsumer(PROBE, schema="unused", pool=None, js=js, expect=(FeedbackSubmitted,),
                                  process=None)  # type: ignore[arg-type]
    sub = await js.pull_subscribe_bind(PROBE.durable, PROBE.stream)
    await consumer.handle(await sub.fetch(1, timeout=5))
    await sub.unsubscribe()
    assert consumer.dead_lettered == 1
    return event, body, headers


async def dead_letter_by_hand(js) -> dict[str, str]:
    """Published the way dead_letter() does, for another consumer, with a Korean reason."""
    event = resolved()
    subject, body, headers = encode(event, envelope_for(event, source="moksori/test"))
    headers.update({"moksori-dlq-reason": "unprocessable: 설문 대상이 아닙니다",
                    "moksori-dlq-consumer": "VOC_CASE:feedback-facts", "moksori-dlq-subject": subject,
                    "Nats-Msg-Id": "dlq:VOC_CASE:feedback-facts:7"})
    await js.publish(dlq_subject("feedback-facts"), body, headers=headers)
    return headers


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def test_dlq_list_shows_dead_letters_without_payloads(js, nats_url):
    event, body, headers = await dead_letter_through_consumer(js)
    by_hand = await dead_letter_by_hand(js)

    code, out, err = await moksori(nats_url, "dlq", "list", "--json")
    assert code == 0, err
    rows = json_lines(out)
    assert [r["consumer"] for r in rows] == ["VOC_CASE:ops-probe", "VOC_CASE:feedback-facts"]
    probe = rows[0]
    assert probe["subject"] == "voc.case.resolved"
    assert probe["dlq_subject"] == "voc.dlq.ops-probe"
    assert probe["ce_id"] == headers["ce-id"] and probe["ce_type"] == CaseResolved.TYPE
    assert probe["case_id"] == str(event.case_id)
    assert probe["reason"].startswith("malformed: ce-type") and "not accepted here" in probe["reason"]
    assert probe["size"] == len(body)
    assert datetime.fromisoformat(probe["time"]) <= datetime.now(UTC)
    assert rows[1]["reason"] == "unprocessable: 설문 대상이 아닙니다"  # non-ASCII headers survive
    assert rows[1]["ce_id"] == by_hand["ce-id"]
    assert RESOLUTION not in out and "010-1234" not in out  # payloads are never printed

    code, out, _ = await moksori(nats_url, "dlq", "list", "--json", "--consumer", "feedback-facts")
    assert code == 0 and [r["ce_id"] for r in json_lines(out)] == [by_hand["ce-id"]]
    code, out, _ = await moksori(nats_url, "dlq", "list", "--json", "--consumer", "VOC_ALERTS:feedback-facts")
    assert code == 0 and json_lines(out) == []
    code, out, _ = await moksori(nats_url, "dlq", "list", "--json", "--limit", "1")
    assert code == 0 and [r["seq"] for r in json_lines(out)] == [probe["seq"]]

    code, out, err = await moksori(nats_url, "dlq", "list")
    assert code == 0, err
    assert "VOC_CASE:ops-probe" in out and "malformed" in out and f"{len(body)} B" in out
    assert headers["ce-id"] in out and str(event.case_id) in out  # identifiers are shown whole
    assert RESOLUTION not in out
    info = await js.stream_info("VOC_DLQ")
    assert info.state.messages == 2 and info.state.consumer_count == 0  # read, not consumed


async def test_dlq_replay_republishes_to_the_original_subject_and_removes_it(js, nats_url):
    event, body, headers = await dead_letter_through_consumer(js)
    by_hand = await dead_letter_by_hand(js)
    seq = json_lines((await moksori(nats_url, "dlq", "list", "--json"))[1])[0]["seq"]

    code, out, err = await moksori(nats_url, "dlq", "replay")
    assert code == 2 and "nothing selected" in err and "Traceback" not in err
    # ops-busy (not one of the services' idempotent consumers) also reads voc.case.resolved: refused
    code, out, err = await moksori(nats_url, "dlq", "replay", "--seq", str(seq), "--dry-run")
    assert code == 1 and "also read by ops-busy" in err and "--force" in err and "would replay" not in out
    code, out, err = await moksori(nats_url, "dlq", "replay", "--seq", str(seq), "--dry-run", "--force")
    assert code == 0, err
    assert "would replay" in out and "voc.case.resolved" in out
    assert (await js.stream_info("VOC_DLQ")).state.messages == 2
    assert (await js.stream_info("VOC_CASE")).state.messages == 1

    code, out, err = await moksori(nats_url, "dlq", "replay", "--seq", str(seq), "--force")
    assert code == 0, err
    assert f"replayed #{seq}" in out and "VOC_CASE seq 2" in out and RESOLUTION not in out

    replayed = await js.get_msg("VOC_CASE", seq=2)
    assert replayed.subject == "voc.case.resolved"
    assert replayed.data == mask_payload(body)  # a dead letter is kept masked; so is its replay
    assert b"5678" not in replayed.data
    # not guessable from the DLQ sequence alone: another publisher to the stream cannot take it first
    assert replayed.headers["Nats-Msg-Id"] == f"replay:{seq}:{hashlib.sha256(replayed.data).hexdigest()[:24]}"
    assert replayed.headers["ce-id"] == headers["ce-id"]
    assert replayed.headers["ce-subject"] == str(event.case_id)
    assert not [k for k in replayed.headers if k.lower().startswith("moksori-dlq-")]
    with pytest.raises(NotFoundError):
        await js.get_msg("VOC_DLQ", seq=seq)
    assert (await js.stream_info("VOC_DLQ")).state.messages == 1

    # the consumer that dead-lettered it gets it again, with its original ce-id
    sub = await js.pull_subscribe_bind(PROBE.durable, PROBE.stream)
    [again] = await sub.fetch(1, timeout=5)
    assert again.headers["ce-id"] == headers["ce-id"] and again.metadata.sequence.stream == 2
    await again.ack()
    await sub.unsubscribe()

    code, _, err = await moksori(nats_url, "dlq", "replay", "--seq", str(seq), "--force")  # already gone
    assert code == 1 and "no such message" in err
    code, out, err = await moksori(nats_url, "dlq", "replay", "--consumer", "feedback-facts", "--force")
    assert code == 0, err
    assert "1 replayed" in out
    assert (await js.stream_info("VOC_DLQ")).state.messages == 0
    last = await js.get_last_msg("VOC_CASE", "voc.case.resolved")
    assert last.headers["ce-id"] == by_hand["ce-id"] and last.headers["Nats-Msg-Id"].startswith("replay:")


async def test_queues_reports_pending_ack_pending_redeliveries_and_oldest_age(js, nc, nats_url):
    for _ in range(3):
        await publish(js, resolved())
    sub = await js.pull_subscribe_bind(BUSY.durable, BUSY.stream)
    [first] = await sub.fetch(1, timeout=5)
    await nc.request(first.reply, b"-NAK", timeout=5)  # a nak the server confirms: the next fetch redelivers
    [again] = await sub.fetch(1, timeout=5)  # the same message, redelivered, and left unacked
    assert again.metadata.num_delivered == 2
    await asyncio.sleep(0.2)

    code, out, err = await moksori(nats_url, "queues", "--json", "--stream", "VOC_CASE", "--stream", "VOC_ALERTS")
    assert code == 0, err
    streams = {s["stream"]: s for s in json.loads(out)["streams"]}
    case = streams["VOC_CASE"]
    assert case["messages"] == 3 and case["bytes"] > 0
    consumers = {c["name"]: c for c in case["consumers"]}
    busy = consumers["ops-busy"]
    assert (busy["pending"], busy["ack_pending"], busy["redelivered"]) == (2, 1, 1)
    assert busy["filter"] == ["voc.case.resolved"]
    assert 0.2 <= busy["oldest_age_s"] < 60
    probe = consumers["ops-probe"]
    assert (probe["pending"], probe["ack_pending"], probe["redelivered"]) == (3, 0, 0)
    assert probe["oldest_age_s"] >= busy["oldest_age_s"] - 1
    idle = streams["VOC_ALERTS"]["consumers"][0]
    assert idle["name"] == "ops-idle" and idle["pending"] == 0 and idle["oldest_age_s"] is None

    code, out, err = await moksori(nats_url, "queues", "--ours")
    assert code == 0, err
    assert "ops-busy" in out and "VOC_DLQ" in out
    await again.ack()
    await sub.unsubscribe()

    code, _, err = await moksori(nats_url, "queues", "--stream", "NO_SUCH")
    assert code == 2 and "NO_SUCH" in err


async def test_unreachable_server_is_one_line_and_exit_1(nats_url):
    code, out, err = await moksori(nats_url, "queues", "--nats-url", "nats://user:secret@127.0.0.1:1")
    assert code == 1
    assert "cannot connect to NATS" in err and "secret" not in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
