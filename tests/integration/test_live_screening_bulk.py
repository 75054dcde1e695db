"""Live screening's bulk path against real PostgreSQL: a fetched batch of call segments,
screened and written in three statements, must raise exactly the alerts the one-at-a-time
path raises: one per call and reason, the emotion alert at the turn that reaches the
threshold, and nothing for the agent's words."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from services.classifier.domain.lexicon import load_lexicon
from services.classifier.handlers.events import on_segment
from shared.cloudevents import decode, envelope_for
from shared.consumer import Delivery
from shared.events import AlertRaised, CallSegmentReceived, case_id_for_call
from shared.outbox import Outbox

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
# (call, seq, speaker, text); calls are suffixes, so one run can use fresh ids per path
TURNS = [
    ("reg", 1, "customer", "아 네 카드 연회비가 두 번 나갔다니까요"),
    ("reg", 2, "customer", "이거 오늘 안 되면 금감원에 민원 넣을 거예요"),
    ("reg", 3, "agent", "고객님 언론 보도 관련 안내는 아니고요 확인해 드리겠습니다"),  # the agent: never screened
    ("reg", 4, "customer", "금감원 민원 진짜 넣는다고요"),  # the same reason again: no second alert
    ("mad", 1, "customer", "아니 진짜 짜증 나네요 몇 번을 말해요"),
    ("mad", 2, "customer", "어이가 없네 지금 장난하세요"),
    ("mad", 3, "customer", "책임자 바꿔요 당장"),  # the third angry turn: the emotion alert, once
    ("mad", 4, "customer", "도대체 뭐 하는 거예요!!"),
    ("slow", 1, "customer", "아 짜증 나 진짜"),
    ("slow", 2, "customer", "네 그건 알겠는데요"),
]
LATER = [  # a second batch: the slow call's anger reaches the threshold only here
    ("slow", 3, "customer", "아니 어이가 없네요"),
    ("slow", 4, "customer", "책임자 연결해 주세요 환장하겠네"),
    ("mad", 5, "customer", "열 받아서 못 참겠네"),  # already alerted: nothing new
]


SERVICE = "classifier"  # the `conn` fixture (conftest.py) applies its migrations


def segments(turns, run: str) -> list[Delivery]:
    out = []
    for call, seq, speaker, text in turns:
        call_id = f"CALL-{run}-{call}"
        msg = CallSegmentReceived(case_id=case_id_for_call(call_id), call_id=call_id, seq=seq, speaker=speaker,
                                  text=text, ts=T0 + timedelta(seconds=5 * seq), affiliate="card")
        out.append(Delivery(env=envelope_for(msg, source="moksori/test"), msg=msg, raw=None))  # type: ignore[arg-type]
    return out


async def raised(conn, run: str) -> list[tuple]:
    """The alerts a run left in the outbox, as (call, reason, severity, message, evidence texts)."""
    rows = await conn.fetch("SELECT headers, body FROM classifier.outbox WHERE subject LIKE 'voc.alert.%'")
    out = []
    for r in rows:
        headers = r["headers"] if isinstance(r["headers"], dict) else json.loads(r["headers"])
        _, alert = decode(headers, bytes(r["body"]), (AlertRaised,))
        if alert.call_id and alert.call_id.startswith(f"CALL-{run}-"):
            out.append((alert.call_id.removeprefix(f"CALL-{run}-"), alert.reason, alert.severity, alert.message,
                        tuple(e.text for e in alert.evidence)))
    return sorted(out)


async def test_a_batch_raises_exactly_what_one_segment_at_a_time_raises(conn):
    lexicon = load_lexicon()
    process = on_segment(Outbox("classifier", "moksori/test"), SimpleNamespace(lexicon=lambda: lexicon))
    bulk_run, one_run = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    for batch in (TURNS, LATER):
        async with conn.transaction():
            assert await process.bulk(conn, segments(batch, bulk_run)) == []  # every segment taken
        for d in segments(batch, one_run):
            async with conn.transaction():
                await process(conn, d)
    bulk, one = await raised(conn, bulk_run), await raised(conn, one_run)
    assert bulk == one
    reasons = [(call, reason) for call, reason, *_ in bulk]
    assert reasons == [("mad", "emotion"), ("reg", "regulator"), ("slow", "emotion")], reasons
    mad = next(a for a in bulk if a[:2] == ("mad", "emotion"))
    assert "분노 발화 3회" in mad[3] and mad[4] == ("책임자 바꿔",), mad  # the turn that reached 3
    counts = await conn.fetch("SELECT call_id, angry_turns FROM classifier.live_calls WHERE call_id LIKE $1",
                              f"CALL-{bulk_run}-%")
    assert {r["call_id"].rsplit("-", 1)[1]: r["angry_turns"] for r in counts} == {"mad": 5, "slow": 3}


def test_only_turns_with_something_to_record_are_processed():
    """The consumer acks the other turns without a transaction (`no_effect`): the agent's words,
    and customer turns with no watch word and no anger."""
    lexicon = load_lexicon()
    process = on_segment(Outbox("classifier", "moksori/test"), SimpleNamespace(lexicon=lambda: lexicon))
    quiet = {(d.msg.call_id.rsplit("-", 1)[1], d.msg.seq) for d in segments(TURNS + LATER, "q")
             if process.no_effect(d)}
    assert quiet == {("reg", 1), ("reg", 3), ("slow", 2)}
