"""Live screening's bulk path against real PostgreSQL: a fetched batch of call segments,
screened and written in three statements, must raise exactly the alerts the one-at-a-time
path raises: one per call and reason, the emotion alert at the turn that reaches the
threshold, and nothing for the agent's words. Intake sends a batch's segments in one
CallSegmentsReceived; intakes before it sent one CallSegmentReceived per segment: both are read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from services.classifier.domain.lexicon import load_lexicon
from services.classifier.handlers.events import on_segment
from shared.cloudevents import envelope_for
from shared.consumer import Delivery
from shared.events import (AlertRaised, CallSegment, CallSegmentReceived, CallSegmentsReceived, case_id_for_call,
                           live_alert_id, segments_event_id)
from shared.outbox import Outbox, PublishFailed

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
OUTBOX = Outbox("classifier", "moksori/classifier")


def segments(turns, run: str) -> list[Delivery]:
    """One message per segment, as intakes before session 21 sent them."""
    out = []
    for call, seq, speaker, text in turns:
        call_id = f"CALL-{run}-{call}"
        msg = CallSegmentReceived(case_id=case_id_for_call(call_id), call_id=call_id, seq=seq, speaker=speaker,
                                  text=text, ts=T0 + timedelta(seconds=5 * seq), affiliate="card")
        out.append(Delivery(env=envelope_for(msg, source="moksori/test"), msg=msg, raw=None))  # type: ignore[arg-type]
    return out


def batched(turns, run: str, per_message: int = 4) -> list[Delivery]:
    """The segments `per_message` to a CallSegmentsReceived, as intake sends a fetched batch's."""
    segs = [CallSegment(**d.msg.model_dump()) for d in segments(turns, run)]
    out = []
    for i in range(0, len(segs), per_message):
        msg = CallSegmentsReceived(segments=tuple(segs[i:i + per_message]))
        out.append(Delivery(env=envelope_for(msg, source="moksori/test", id=segments_event_id(msg.segments)),
                            msg=msg, raw=None))  # type: ignore[arg-type]
    return out


class Published:
    """Stands in for Runtime.publish_now: the alerts a run published, with their event ids."""

    def __init__(self) -> None:
        self.sent: list[tuple[AlertRaised, str]] = []

    async def __call__(self, msgs) -> None:
        self.sent.extend(msgs)

    def of(self, run: str) -> list[tuple]:
        """(call, reason, severity, message, evidence texts) of a run's alerts."""
        out = []
        for alert, event_id in self.sent:
            if alert.call_id and alert.call_id.startswith(f"CALL-{run}-"):
                assert event_id == live_alert_id(alert.call_id, alert.reason)
                out.append((alert.call_id.removeprefix(f"CALL-{run}-"), alert.reason, alert.severity, alert.message,
                            tuple(e.text for e in alert.evidence)))
        return sorted(out)


async def test_a_batch_raises_exactly_what_one_segment_at_a_time_raises(conn):
    lexicon = load_lexicon()
    published = Published()
    process = on_segment(published, OUTBOX, SimpleNamespace(lexicon=lambda: lexicon))
    bulk_run, one_run, msgs_run = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    for batch in (TURNS, LATER):
        async with conn.transaction():
            assert await process.bulk(conn, segments(batch, bulk_run)) == []  # every segment taken
        for d in segments(batch, one_run):
            async with conn.transaction():
                await process(conn, d)
        async with conn.transaction():  # intake's batch messages, a fetch of three of them
            assert await process.bulk(conn, batched(batch, msgs_run)) == []
    bulk, one = published.of(bulk_run), published.of(one_run)
    assert bulk == one == published.of(msgs_run)
    reasons = [(call, reason) for call, reason, *_ in bulk]
    assert reasons == [("mad", "emotion"), ("reg", "regulator"), ("slow", "emotion")], reasons
    mad = next(a for a in bulk if a[:2] == ("mad", "emotion"))
    assert "분노 발화 3회" in mad[3] and mad[4] == ("책임자 바꿔",), mad  # the turn that reached 3
    counts = await conn.fetch("SELECT call_id, angry_turns FROM classifier.live_calls WHERE call_id LIKE $1",
                              f"CALL-{bulk_run}-%")
    assert {r["call_id"].rsplit("-", 1)[1]: r["angry_turns"] for r in counts} == {"mad": 5, "slow": 3}


async def test_a_turn_that_comes_again_in_another_batch_is_not_counted_again(conn):
    """Intake forwards a fetched batch's segments in one message, with an id from the segments it
    holds. A batch it retries may be fetched with another make-up, so JetStream cannot drop the
    repeat by its id; screening counts each angry turn once per call and seq, so the repeat neither
    counts twice nor raises the emotion alert early, and an alert is raised once."""
    lexicon = load_lexicon()
    published = Published()
    process = on_segment(published, OUTBOX, SimpleNamespace(lexicon=lambda: lexicon))
    run = uuid.uuid4().hex[:8]
    mad = [t for t in TURNS if t[0] == "mad"]
    for batch in (mad[:2], mad[:2] + TURNS[:2], mad[:1]):  # the first two angry turns, again and again
        async with conn.transaction():
            await process.bulk(conn, batched(batch, run, per_message=3))
    assert await conn.fetchval("SELECT angry_turns FROM classifier.live_calls WHERE call_id = $1",
                               f"CALL-{run}-mad") == 2
    assert [reason for _, reason, *_ in published.of(run)] == ["regulator"]  # not yet the emotion alert
    async with conn.transaction():
        await process.bulk(conn, batched(mad[1:3], run))  # the third angry turn, with the second again
    assert [(call, reason) for call, reason, *_ in published.of(run)] == [("mad", "emotion"), ("reg", "regulator")]
    assert "분노 발화 3회" in next(a[3] for a in published.of(run) if a[1] == "emotion")


async def test_alerts_jetstream_cannot_take_now_go_out_through_the_outbox_once(conn):
    """Alerts are published before the transaction commits, not through the outbox. When JetStream
    cannot take them (NATS away, no quorum for the alerts stream), they are added to the outbox in
    the same transaction, under the same ids, and the batch commits: the relay publishes them when
    it can, and a redelivered batch raises nothing twice."""
    lexicon = load_lexicon()
    run = uuid.uuid4().hex[:8]

    async def down(msgs):
        raise PublishFailed("1 of 1 publishes failed: nats: no responders available for request")

    batch = segments(TURNS[:2], run)  # the second turn names 금감원
    async with conn.transaction():
        await on_segment(down, OUTBOX, SimpleNamespace(lexicon=lambda: lexicon)).bulk(conn, batch)
    expected = live_alert_id(f"CALL-{run}-reg", "regulator")
    rows = await conn.fetch("SELECT event_id, subject FROM classifier.outbox WHERE event_id = $1", expected)
    assert [(r["event_id"], r["subject"]) for r in rows] == [(expected, "voc.alert.card.regulator")]
    published = Published()
    process = on_segment(published, OUTBOX, SimpleNamespace(lexicon=lambda: lexicon))
    async with conn.transaction():  # the batch again, as a redelivery would bring it
        await process.bulk(conn, segments(TURNS[:2], run))
    assert published.of(run) == []
    assert await conn.fetchval("SELECT count(*) FROM classifier.outbox WHERE event_id = $1", expected) == 1


async def test_a_failed_transaction_raises_the_alert_again_under_the_same_id(conn):
    """The alert rows and the alert go together: a batch whose transaction fails after publishing
    leaves no alert row, so the retry finds the alert new and publishes it under the same id
    (which JetStream drops as a duplicate)."""
    lexicon = load_lexicon()
    run = uuid.uuid4().hex[:8]
    published = Published()
    process = on_segment(published, OUTBOX, SimpleNamespace(lexicon=lambda: lexicon))
    with pytest.raises(RuntimeError):
        async with conn.transaction():
            await process.bulk(conn, segments(TURNS[:2], run))
            raise RuntimeError("the commit failed")
    async with conn.transaction():
        await process.bulk(conn, segments(TURNS[:2], run))
    ids = [event_id for alert, event_id in published.sent if alert.call_id.startswith(f"CALL-{run}-")]
    assert ids == [live_alert_id(f"CALL-{run}-reg", "regulator")] * 2


def test_only_turns_with_something_to_record_are_processed():
    """The consumer acks the other turns without a transaction (`no_effect`): the agent's words,
    and customer turns with no watch word and no anger."""
    lexicon = load_lexicon()
    process = on_segment(Published(), OUTBOX, SimpleNamespace(lexicon=lambda: lexicon))
    quiet = {(d.msg.call_id.rsplit("-", 1)[1], d.msg.seq) for d in segments(TURNS + LATER, "q")
             if process.no_effect(d)}
    assert quiet == {("reg", 1), ("reg", 3), ("slow", 2)}
    # intake's batch messages need no inbox row; an older intake's per-segment messages are still claimed, as
    # a classifier before session 21 counted their angry turns with only the inbox row to guard a redelivery
    assert all(process.idempotent(d) for d in batched(TURNS + LATER, "q"))
    assert not any(process.idempotent(d) for d in segments(TURNS + LATER, "q"))
    # a message of many segments is quiet only if every one of them is
    messages = batched(TURNS, "q", per_message=2)
    assert [process.no_effect(d) for d in messages] == [False, False, False, False, False]
    assert process.no_effect(batched([TURNS[0], TURNS[2], TURNS[9]], "q", per_message=3)[0])


async def test_each_turn_is_screened_once_for_all_the_hooks(conn, monkeypatch):
    """no_effect and bulk each need a turn's screening: a turn is screened once for both (and again
    only after the lexicon is reloaded)."""
    from services.classifier.handlers import events as handlers

    screened: list[str] = []
    original = handlers.screen_segment

    def counting(text, lex, before=""):
        screened.append(text)
        return original(text, lex, before)

    monkeypatch.setattr(handlers, "screen_segment", counting)
    lexicons = [load_lexicon()]
    process = on_segment(Published(), OUTBOX, SimpleNamespace(lexicon=lambda: lexicons[-1]))
    batch = batched(TURNS, uuid.uuid4().hex[:8], per_message=3)
    rest = [d for d in batch if not process.no_effect(d)]
    async with conn.transaction():
        await process.bulk(conn, rest)
    customer_turns = [seg.text for d in batch for seg in d.msg.segments if seg.speaker == "customer"]
    assert sorted(screened) == sorted(customer_turns)
    screened.clear()
    lexicons.append(load_lexicon())  # a reload: the next batch is screened under the new lexicon
    again = segments(TURNS[:2], uuid.uuid4().hex[:8])
    process.no_effect(again[1])
    lexicons.append(load_lexicon())
    process.no_effect(again[1])
    assert screened == [again[1].msg.text] * 2
