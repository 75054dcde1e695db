"""Cases waiting for the customer's documents in the office's report, against real PostgreSQL: routing stops
a case's SLA clock while it waits (CaseInfoRequested), so the report must not count it as open past its
deadline; once the documents come (CaseInfoProvided, with the deadline moved by the pause), a transfer or a
resolution, it counts again when its deadline passes. The facts consumer may take a case's events late, twice
and in any order (a nak'd message is redelivered after later ones; replicas commit side by side): the facts
must come out as the events' order in time leaves them."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.feedback import report_cli
from services.feedback.adapters import facts
from services.feedback.adapters import report_sql as q
from services.feedback.handlers.events import on_fact
from shared.cloudevents import envelope_for
from shared.consumer import Delivery
from shared.directory import Denominator
from shared.events import (
    CaseInfoProvided, CaseInfoRequested, CaseResolved, CaseRouted, CaseTransferred, Event,
)

pytestmark = pytest.mark.integration

SERVICE = "feedback"  # the `conn` fixture (conftest.py) applies its migrations

KST = ZoneInfo("Asia/Seoul")
DENOMINATORS = {"card": Denominator(unit="customers", count=200_000),
                "bank": Denominator(unit="customers", count=1_000_000)}
MARCH = (date(2026, 3, 1), date(2026, 4, 1))
RECEIVED = datetime(2026, 3, 2, 10, tzinfo=KST)
DUE = datetime(2026, 3, 10, 18, tzinfo=KST)  # the deadline the case was routed with


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=KST)


def delivered(e: Event, time: datetime | None = None) -> Delivery:
    """As the facts consumer gets it: the envelope's time is when routing made the event."""
    return Delivery(env=envelope_for(e, source="moksori/routing", time=time), msg=e, raw=None)  # type: ignore[arg-type]


def routed(case_id: uuid.UUID, due: datetime = DUE) -> CaseRouted:
    return CaseRouted(case_id=case_id, tracking_code="C2026001", channel="app", affiliate="card", team="general",
                      kind="complaint", topic="card_payment", urgency="normal", text="x", received_at=RECEIVED,
                      resolve_due=due)


def requested(case_id: uuid.UUID, paused_at: datetime) -> CaseInfoRequested:
    return CaseInfoRequested(case_id=case_id, affiliate="card", team="general", what="통장 사본",
                             paused_at=paused_at)


def provided(case_id: uuid.UUID, resumed_at: datetime, due: datetime) -> CaseInfoProvided:
    return CaseInfoProvided(case_id=case_id, affiliate="card", team="general", resumed_at=resumed_at,
                            resolve_due=due)


def transferred(case_id: uuid.UUID, due: datetime) -> CaseTransferred:
    return CaseTransferred(case_id=case_id, from_affiliate="card", from_team="general", affiliate="bank",
                           team="general", reason="은행 계좌 관련", by="김하늘", resolve_due=due)


def resolved(case_id: uuid.UUID, resolved_at: datetime, within: bool) -> CaseResolved:
    return CaseResolved(case_id=case_id, affiliate="card", team="general", channel="app", resolution="처리 완료",
                        resolved_at=resolved_at, within_sla=within)


async def apply(conn, *ds: Delivery) -> None:
    for d in ds:
        async with conn.transaction():  # each as the consumer takes it: its own transaction
            await on_fact(conn, d)


async def overdue(conn, now: datetime) -> dict:
    return {(r["affiliate"], r["team"]): r["n"] for r in await conn.fetch(q.OPEN_OVERDUE, *MARCH, now)}


async def card_general(conn) -> dict:
    r = await report_cli.gather(conn, date(2026, 3, 15), "month", DENOMINATORS)
    return {(t["affiliate"], t["team"]): t for t in r["teams"]}["card", "general"]


async def test_a_paused_case_is_not_overdue_until_its_moved_deadline_passes(conn):
    paused, late, on_time = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await apply(conn, *(delivered(routed(c)) for c in (paused, late, on_time)),
                delivered(resolved(on_time, at(6), within=True)),
                delivered(requested(paused, at(5)), at(5)))
    # 12 March: both open cases are past the deadline they were routed with, but one waits for documents
    assert await overdue(conn, at(12)) == {("card", "general"): 1}
    team = await card_general(conn)  # the report, today: the paused case still waits
    assert team["open_overdue"] == 1 and team["sla_met_pct"] == 50.0  # 1 within SLA of 1 resolved + 1 overdue

    # the documents come on the 20th: the deadline moves by the pause (the event's, applied as it is)
    new_due = datetime(2026, 3, 25, 18, tzinfo=KST)
    await apply(conn, delivered(provided(paused, at(20), new_due), at(20)))
    row = await conn.fetchrow("SELECT resolve_due, paused_at FROM feedback.case_facts WHERE case_id = $1", paused)
    assert (row["resolve_due"], row["paused_at"]) == (new_due, None)
    assert await overdue(conn, at(22)) == {("card", "general"): 1}  # running again, not yet past the new deadline
    assert await overdue(conn, at(26)) == {("card", "general"): 2}  # past it
    team = await card_general(conn)  # today (November): long past
    assert team["open_overdue"] == 2 and team["sla_met_pct"] == 33.3


async def test_a_transfer_or_a_resolution_ends_the_pause(conn):
    moved, done = uuid.uuid4(), uuid.uuid4()
    await apply(conn, delivered(routed(moved)), delivered(routed(done)),
                delivered(requested(moved, at(4)), at(4)), delivered(requested(done, at(4)), at(4)))
    assert await overdue(conn, at(12)) == {}
    transfer_due = datetime(2026, 3, 16, 18, tzinfo=KST)  # the pause's days credited by routing
    await apply(conn, delivered(transferred(moved, transfer_due), at(9)),
                delivered(resolved(done, at(11), False), at(11)))
    assert await overdue(conn, at(12)) == {}                       # the transferred case's deadline is the 16th
    assert await overdue(conn, at(17)) == {("bank", "general"): 1}  # and the resolved one is not open
    # the resolution ended the pause: were the case reopened, it would not count as waiting
    assert await conn.fetchval("SELECT paused_at FROM feedback.case_facts WHERE case_id = $1", done) is None
    # a transfer recorded without its time (no envelope) ends the pause it finds
    other = uuid.uuid4()
    await apply(conn, delivered(routed(other)), delivered(requested(other, at(4)), at(4)))
    await facts.record(conn, transferred(other, transfer_due))
    assert await conn.fetchval("SELECT paused_at FROM feedback.case_facts WHERE case_id = $1", other) is None


async def test_a_late_request_does_not_pause_a_case_whose_documents_came(conn):
    """CaseInfoRequested nak'd and redelivered after its CaseInfoProvided (and again after that): the case's
    clock runs; the deadline the documents moved stays."""
    case = uuid.uuid4()
    new_due = datetime(2026, 3, 14, 18, tzinfo=KST)
    request = delivered(requested(case, at(5)), at(5))
    await apply(conn, delivered(routed(case)), delivered(provided(case, at(8), new_due), at(8)), request, request)
    row = await conn.fetchrow("SELECT resolve_due, paused_at FROM feedback.case_facts WHERE case_id = $1", case)
    assert (row["resolve_due"], row["paused_at"]) == (new_due, None)
    assert await overdue(conn, at(15)) == {("card", "general"): 1}
    # the same for a case whose events all came before its CaseRouted
    early = uuid.uuid4()
    await apply(conn, delivered(provided(early, at(8), new_due), at(8)), delivered(requested(early, at(5)), at(5)),
                delivered(routed(early)))
    assert await overdue(conn, at(15)) == {("card", "general"): 2}


def _stories(case: uuid.UUID) -> dict[str, tuple[list[Delivery], dict]]:
    """Each story's events (envelope times as routing made them) and the facts they leave in any order."""
    d2, d4, d6 = (datetime(2026, 3, n, 18, tzinfo=KST) for n in (12, 16, 20))
    return {
        # two pauses, a transfer, and a third pause it is still in
        "paused": ([delivered(routed(case)), delivered(requested(case, at(3)), at(3)),
                    delivered(provided(case, at(5), d2), at(5)), delivered(requested(case, at(6)), at(6)),
                    delivered(transferred(case, d4), at(9)), delivered(requested(case, at(10)), at(10))],
                   {"paused_at": at(10), "pause_ended_at": at(9), "resolve_due": d4, "affiliate": "bank"}),
        # two pauses, both over: the later one's deadline
        "running": ([delivered(routed(case)), delivered(requested(case, at(3)), at(3)),
                     delivered(provided(case, at(5), d2), at(5)), delivered(requested(case, at(6)), at(6)),
                     delivered(provided(case, at(11), d6), at(11))],
                    {"paused_at": None, "pause_ended_at": at(11), "resolve_due": d6, "affiliate": "card"}),
        # paused, transferred, paused again and the documents came
        "transferred": ([delivered(routed(case)), delivered(requested(case, at(3)), at(3)),
                         delivered(transferred(case, d4), at(7)), delivered(requested(case, at(8)), at(8)),
                         delivered(provided(case, at(11), d6), at(11))],
                        {"paused_at": None, "pause_ended_at": at(11), "resolve_due": d6, "affiliate": "bank"}),
    }


FACTS = "SELECT paused_at, pause_ended_at, resolve_due, affiliate FROM feedback.case_facts WHERE case_id = $1"


@pytest.mark.parametrize("story", ["paused", "running", "transferred"])
async def test_any_order_and_redelivery_leave_what_time_order_leaves(conn, story):
    """Every order of the story's events (the "paused" story: 120 of its 720), some delivered twice."""
    rng = random.Random(story)
    case = uuid.uuid4()
    events, expected = _stories(case)[story]
    orders = list(itertools.permutations(events))
    for order in rng.sample(orders, min(len(orders), 120)):
        order = list(order)
        for _ in range(rng.randint(0, 2)):  # a redelivery, anywhere after the first
            i = rng.randrange(len(order))
            order.insert(rng.randint(i + 1, len(order)), order[i])
        await conn.execute("DELETE FROM feedback.case_facts WHERE case_id = $1", case)
        await apply(conn, *order)
        assert dict(await conn.fetchrow(FACTS, case)) == expected, [type(d.msg).__name__ for d in order]
