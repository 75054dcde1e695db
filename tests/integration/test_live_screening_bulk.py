"""Live screening's bulk path against real PostgreSQL: a fetched batch of call segments,
screened and written in three statements, must raise exactly the alerts the one-at-a-time
path raises: one per call and reason, the emotion alert at the turn that reaches the
threshold, and nothing for the agent's words."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from services.classifier.domain.lexicon import load_lexicon
from services.classifier.handlers.events import on_segment
from shared.cloudevents import envelope_for
from shared.consumer import Delivery
from shared.events import AlertRaised, CallSegmentReceived, case_id_for_call, live_alert_id
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
    out = []
    for call, seq, speaker, text in turns:
        call_id = f"CALL-{run}-{call}"
        msg = CallSegmentReceived(case_id=case_id_for_call(call_id), call_id=call_id, seq=seq, speaker=speaker,
                                  text=text, ts=T0 + timedelta(seconds=5 * seq), affiliate="card")
        out.append(Delivery(env=envelope_for(msg, source="moksori/test"), msg=msg, raw=None))  # type: ignore[arg-type]
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
    bulk_run, one_run = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    for batch in (TURNS, LATER):
        async with conn.transaction():
            assert await process.bulk(conn, segments(batch, bulk_run)) == []  # every segment taken
        for d in segments(batch, one_run):
            async with conn.transaction():
                await process(conn, d)
    bulk, one = published.of(bulk_run), published.of(one_run)
    assert bulk == one
    reasons = [(call, reason) for call, reason, *_ in bulk]
    assert reasons == [("mad", "emotion"), ("reg", "regulator"), ("slow", "emotion")], reasons
    mad = next(a for a in bulk if a[:2] == ("mad", "emotion"))
    assert "분노 발화 3회" in mad[3] and mad[4] == ("책임자 바꿔",), mad  # the turn that reached 3
    counts = await conn.fetch("SELECT call_id, angry_turns FROM classifier.live_calls WHERE call_id LIKE $1",
                              f"CALL-{bulk_run}-%")
    assert {r["call_id"].rsplit("-", 1)[1]: r["angry_turns"] for r in counts} == {"mad": 5, "slow": 3}


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
    claimed = {(d.msg.call_id.rsplit("-", 1)[1], d.msg.seq) for d in segments(TURNS + LATER, "q")
               if not process.no_effect(d) and not process.idempotent(d)}
    assert claimed == {("mad", 1), ("mad", 2), ("mad", 3), ("mad", 4), ("mad", 5), ("slow", 1), ("slow", 3),
                       ("slow", 4)}  # the angry turns, which are counted; the alerting ones need no inbox row


async def test_each_turn_is_screened_once_for_all_the_hooks(conn, monkeypatch):
    """no_effect, idempotent and bulk each need a turn's screening: a turn is screened once for all
    of them (and again only after the lexicon is reloaded)."""
    from services.classifier.handlers import events as handlers

    screened: list[str] = []
    original = handlers.screen_segment

    def counting(text, lex):
        screened.append(text)
        return original(text, lex)

    monkeypatch.setattr(handlers, "screen_segment", counting)
    lexicons = [load_lexicon()]
    process = on_segment(Published(), OUTBOX, SimpleNamespace(lexicon=lambda: lexicons[-1]))
    batch = segments(TURNS, uuid.uuid4().hex[:8])
    rest = [d for d in batch if not process.no_effect(d)]
    for d in rest:
        process.idempotent(d)
    async with conn.transaction():
        await process.bulk(conn, rest)
    customer_turns = [d.msg.text for d in batch if d.msg.speaker == "customer"]
    assert sorted(screened) == sorted(customer_turns)
    screened.clear()
    lexicons.append(load_lexicon())  # a reload: the next batch is screened under the new lexicon
    again = segments(TURNS[:2], uuid.uuid4().hex[:8])
    process.no_effect(again[1])
    lexicons.append(load_lexicon())
    process.idempotent(again[1])
    assert screened == [again[1].msg.text] * 2
