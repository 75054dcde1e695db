"""Routing's batch path against real PostgreSQL: a fetched batch of classified cases routed in one
statement of its own (autocommit) must leave the rows and events that routing each case on its own
in a transaction leaves, and return exactly the events it wrote, held; a case's second event in the
batch, and a case routed before, send nothing again."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from shared.directory import DEFAULT_DIRECTORY, load_directory
from services.routing.handlers.events import on_classified
from shared.bizcal import DEFAULT_CALENDAR, load_calendar
from shared.cloudevents import envelope_for
from shared.consumer import Delivery
from shared.events import Classification, Evidence, VocClassified
from shared.outbox import Outbox

pytestmark = pytest.mark.integration

SERVICE = "routing"
AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)

CASES = [  # (text, kind, topic, urgency, flags, affiliate hint): a copy to the office for the regulator threat
    ("카드 분실했어요 방금 결제 문자 왔어요", "complaint", "card_loss_theft", "critical", (), "card"),
    ("펀드 불완전판매입니다. 금융감독원에 민원 넣겠습니다.", "complaint", "mis_selling", "high", ("regulator",), "securities"),
    ("보험금 청구 서류가 뭐가 필요한가요?", "inquiry", "insurance", "normal", (), "insurance"),
    ("창구 직원분이 친절하게 도와주셨어요", "praise", "staff_service", "low", (), "bank"),
    ("앱 이체 화면에 자주 쓰는 계좌 기능 넣어주세요", "suggestion", "digital_service", "low", (), None),
]


def classified(case_id: uuid.UUID, seq: int, text, kind, topic, urgency, flags, hint) -> Delivery:
    evidence = tuple(Evidence(field="flags", label=f, text="금융감독원", start=14, end=19, rule="regulator")
                     for f in flags)
    c = Classification(kind=kind, topic=topic, urgency=urgency, flags=flags, affiliate=hint or "group",
                       sentiment="negative", confidence={"topic": 0.9}, evidence=evidence)
    msg = VocClassified(case_id=case_id, tracking_code=f"VOC-2026-{seq:06d}", channel="app", text=text,
                        affiliate_hint=hint, received_at=AT, classification=c, model_version="test")
    return Delivery(env=envelope_for(msg, source="moksori/test"), msg=msg, raw=None)  # type: ignore[arg-type]


async def _state(conn, cases: list[uuid.UUID]) -> tuple:
    index = {c: i for i, c in enumerate(cases)}
    rows = sorted((index[r[0]], *r[1:]) for r in await conn.fetch(
        "SELECT case_id, tracking_code, channel, affiliate, team, kind, topic, urgency, flags, copied_to_cpo, status, "
        "received_at, ack_due, resolve_due, origin, warn_fraction, warn_at FROM routing.cases WHERE case_id = ANY($1)",
        cases))
    events = []
    for r in await conn.fetch("SELECT subject, headers, body FROM routing.outbox WHERE headers->>'ce-subject' = ANY($1) "
                              "ORDER BY id", [str(c) for c in cases]):
        case = uuid.UUID(r["headers"]["ce-subject"])
        body = json.loads(r["body"])
        body["case_id"] = index[case]
        events.append((index[case], r["subject"], r["headers"]["ce-type"], json.dumps(body, sort_keys=True)))
    return rows, events


async def test_a_batch_routed_in_one_statement_leaves_what_one_at_a_time_leaves(conn):
    process = on_classified(Outbox("routing", "moksori/test"), load_directory(DEFAULT_DIRECTORY),
                            load_calendar(DEFAULT_CALENDAR))
    results = {}
    for way in ("bulk", "one"):
        cases = [uuid.uuid4() for _ in CASES]
        batch = [classified(c, i, *spec) for i, (c, spec) in enumerate(zip(cases, CASES))]
        if way == "bulk":
            rest, own = await process.one_statement(conn, batch, 5.0)
            assert rest == []
            held = await conn.fetch("SELECT id, event_id, subject, headers, body FROM routing.outbox "
                                    "WHERE held_until > now() + interval '4 seconds' ORDER BY id")
            assert [tuple(r) for r in own] == [tuple(r) for r in held] and len(own) == len(CASES) + 1
        else:
            async with conn.transaction():
                for d in batch:
                    await process(conn, d)
            assert await conn.fetchval("SELECT count(*) FROM routing.outbox WHERE held_until IS NOT NULL") \
                == len(CASES) + 1  # in a transaction, nothing more is held: TAKE_OWN holds what it takes
        results[way] = await _state(conn, cases)
    assert results["bulk"][0] == results["one"][0]
    assert results["bulk"][1] == results["one"][1]  # the same events, in the same order
    assert len(results["bulk"][1]) == len(CASES) + 1  # the regulator case's copy to the office
    assert any(r[9] for r in results["bulk"][0]) and all(r[10] == "routed" for r in results["bulk"][0])


async def test_a_second_event_and_an_earlier_routing_send_nothing_again(conn):
    process = on_classified(Outbox("routing", "moksori/test"), load_directory(DEFAULT_DIRECTORY),
                            load_calendar(DEFAULT_CALENDAR))
    before, a, b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with conn.transaction():
        await process(conn, classified(before, 1, *CASES[2]))
    batch = [classified(a, 2, *CASES[0]), classified(before, 1, *CASES[2]), classified(b, 3, *CASES[1]),
             classified(a, 2, *CASES[0])]
    rest, own = await process.one_statement(conn, batch, 5.0)
    assert rest == [batch[3]]
    assert len(own) == 3  # a's event, b's and its copy to the office; nothing for the case routed before
    async with conn.transaction():
        for d in rest:
            await process(conn, d)
    counts = dict(await conn.fetch("SELECT headers->>'ce-subject', count(*) FROM routing.outbox "
                                   "WHERE headers->>'ce-subject' = ANY($1) GROUP BY 1", [str(x) for x in (before, a, b)]))
    assert counts == {str(before): 1, str(a): 1, str(b): 2}  # b: the case and the office's copy
    assert process.idempotent(batch[1])  # so the consumer keeps no inbox rows for VocClassified
