"""A case's deadline, extension and resolution facts against real PostgreSQL, whatever order its events come in:
the facts consumer may take them late, twice and in any order (a nak'd message is redelivered after later
ones; replicas commit side by side). The deadline (`resolve_due`) is the one the latest event in time set, and
the case is `extended` when its latest CaseExtended is later than its latest CaseReopened (routing's reopen
gives a fresh deadline, which may be extended again): the facts must come out as delivery in time order leaves
them. Migration 012 keeps each such event's time; its backfill keeps the guard migration 011 gave a deadline.
The affiliate and team are the latest transfer's, the kind and topic the latest reclassification's, the routing's
earlier than any (migration 013)."""

from __future__ import annotations

import random
import shutil
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.feedback.adapters import facts
from services.feedback.entrypoint import MIGRATIONS
from services.feedback.handlers.events import on_fact
from shared import db
from shared.cloudevents import envelope_for
from shared.consumer import Delivery, inbox_key
from shared.events import (
    CaseAcknowledged, CaseExtended, CaseInfoProvided, CaseInfoRequested, CaseReclassified, CaseReopened, CaseResolved,
    CaseRouted, CaseTransferred, Event,
)

pytestmark = pytest.mark.integration

SERVICE = "feedback"  # the `conn` fixture (conftest.py) applies its migrations

KST = ZoneInfo("Asia/Seoul")
RECEIVED = datetime(2026, 3, 2, 10, tzinfo=KST)
DUE = datetime(2026, 3, 10, 18, tzinfo=KST)  # the deadline the case was routed with
CONSUMER = "VOC_CASES:feedback-facts"
# as IdempotentConsumer.CLAIM: an event id the facts consumer took once is not processed again
CLAIM = "INSERT INTO feedback.inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1"
FACTS = "SELECT * FROM feedback.case_facts WHERE case_id = $1"


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=KST)


def due(day: int) -> datetime:
    return datetime(2026, 3, day, 18, tzinfo=KST) if day <= 31 else datetime(2026, 4, day - 31, 18, tzinfo=KST)


def delivered(e: Event, time: datetime | None = None) -> Delivery:
    """As the facts consumer gets it: the envelope's time is when routing made the event; its id is one event's."""
    return Delivery(env=envelope_for(e, source="moksori/routing", time=time), msg=e, raw=None)  # type: ignore[arg-type]


COMMON = {"affiliate": "card", "team": "general"}


def routed(case: uuid.UUID) -> Delivery:
    return delivered(CaseRouted(case_id=case, tracking_code="C2026001", channel="app", kind="complaint",
                                topic="card_payment", urgency="normal", text="x", received_at=RECEIVED,
                                resolve_due=DUE, **COMMON), RECEIVED)


def acknowledged(case: uuid.UUID, day: int) -> Delivery:
    return delivered(CaseAcknowledged(case_id=case, handler_name="김하늘", handler_contact="02-1234-5678",
                                      acknowledged_at=at(day), **COMMON), at(day))


def extended(case: uuid.UUID, day: int, new_due: datetime) -> Delivery:
    return delivered(CaseExtended(case_id=case, reason="자료 확인", business_days=10, resolve_due=new_due,
                                  **COMMON), at(day))


def resolved(case: uuid.UUID, day: int, within: bool) -> Delivery:
    return delivered(CaseResolved(case_id=case, channel="app", resolution="처리 완료", resolved_at=at(day),
                                  within_sla=within, **COMMON), at(day))


def reopened(case: uuid.UUID, day: int, new_due: datetime | None) -> Delivery:
    return delivered(CaseReopened(case_id=case, reason="재민원", resolve_due=new_due, **COMMON), at(day))


def transferred(case: uuid.UUID, day: int, new_due: datetime, affiliate: str = "bank",
                team: str = "general") -> Delivery:
    return delivered(CaseTransferred(case_id=case, from_affiliate="card", from_team="general", affiliate=affiliate,
                                     team=team, reason="은행 계좌 관련", by="김하늘", resolve_due=new_due), at(day))


def reclassified(case: uuid.UUID, day: int, kind: str, topic: str) -> Delivery:
    """The team's correction; its time is its envelope's (the event carries none)."""
    return delivered(CaseReclassified(case_id=case, kind=kind, topic=topic, previous_kind="complaint",
                                      previous_topic="card_payment", by="김하늘", **COMMON), at(day))


def requested(case: uuid.UUID, day: int) -> Delivery:
    return delivered(CaseInfoRequested(case_id=case, what="통장 사본", paused_at=at(day), **COMMON), at(day))


def provided(case: uuid.UUID, day: int, new_due: datetime) -> Delivery:
    return delivered(CaseInfoProvided(case_id=case, resumed_at=at(day), resolve_due=new_due, **COMMON), at(day))


def _stories(case: uuid.UUID) -> dict[str, tuple[list[Delivery], dict]]:
    """Each story's events in time order (as routing's lifecycle makes them) and the facts they leave."""
    return {
        # extended, resolved, reopened with a fresh deadline, transferred, and the documents came after a pause:
        # the deadline is the documents' and the case is not extended (its extension was before the reopening)
        "extended_then_reopened": (
            [routed(case), acknowledged(case, 3), extended(case, 4, due(20)), resolved(case, 6, True),
             reopened(case, 8, due(27)), transferred(case, 9, due(27)), requested(case, 10),
             provided(case, 12, due(31))],
            {"resolve_due": due(31), "extended": False, "reopened": 1, "resolved_at": None, "within_sla": None,
             "paused_at": None, "affiliate": "bank", "acknowledged_at": at(3)}),
        # reopened, then extended again (as routing allows), transferred, paused, documents, resolved late
        "extended_again_after_reopening": (
            [routed(case), extended(case, 3, due(17)), acknowledged(case, 4), resolved(case, 5, True),
             reopened(case, 7, due(25)), extended(case, 9, due(37)), transferred(case, 10, due(37)),
             requested(case, 11), provided(case, 13, due(39)), resolved(case, 15, False)],
            {"resolve_due": due(39), "extended": True, "reopened": 1, "resolved_at": at(15), "within_sla": False,
             "paused_at": None, "affiliate": "bank", "acknowledged_at": at(4)}),
        # documents, extended, resolved and reopened twice; paused and transferred while waiting
        "reopened_twice": (
            [routed(case), requested(case, 2), provided(case, 4, due(12)), extended(case, 5, due(24)),
             resolved(case, 6, True), reopened(case, 7, due(26)), resolved(case, 8, False),
             reopened(case, 9, due(28)), requested(case, 10), transferred(case, 12, due(30))],
            {"resolve_due": due(30), "extended": False, "reopened": 2, "resolved_at": None, "within_sla": None,
             "paused_at": None, "affiliate": "bank", "acknowledged_at": None}),
        # card -> bank -> insurance's fraud team: the latest transfer's affiliate, team and deadline
        "transferred_twice": (
            [routed(case), acknowledged(case, 3), transferred(case, 4, due(20)), requested(case, 5),
             transferred(case, 7, due(24), "insurance", "fraud_response"), resolved(case, 9, True)],
            {"affiliate": "insurance", "team": "fraud_response", "resolve_due": due(24), "kind": "complaint",
             "topic": "card_payment", "transferred_at": at(7), "reclassified_at": None, "paused_at": None,
             "resolved_at": at(9)}),
        # corrected twice: the latest correction's kind and topic
        "reclassified_twice": (
            [routed(case), reclassified(case, 3, "inquiry", "loan"), acknowledged(case, 4),
             reclassified(case, 5, "suggestion", "privacy")],
            {"kind": "suggestion", "topic": "privacy", "reclassified_at": at(5), "affiliate": "card",
             "team": "general", "transferred_at": None, "acknowledged_at": at(4)}),
        # corrected, transferred, extended, resolved, reopened, transferred and corrected again, paused, resolved
        "transferred_and_reclassified": (
            [routed(case), acknowledged(case, 3), reclassified(case, 4, "inquiry", "account_transfer"),
             transferred(case, 5, due(20)), extended(case, 6, due(30)), resolved(case, 8, True),
             reopened(case, 9, due(33)), transferred(case, 10, due(33), "securities", "consumer_protection"),
             reclassified(case, 11, "complaint", "investment"), requested(case, 12), provided(case, 14, due(37)),
             resolved(case, 16, False)],
            {"affiliate": "securities", "team": "consumer_protection", "kind": "complaint", "topic": "investment",
             "transferred_at": at(10), "reclassified_at": at(11), "resolve_due": due(37), "extended": False,
             "reopened": 1, "resolved_at": at(16), "within_sla": False, "paused_at": None,
             "acknowledged_at": at(3)}),
    }


async def apply(conn, *ds: Delivery) -> None:
    """Each as the facts consumer takes it: its own transaction, its event id claimed in the inbox."""
    for d in ds:
        async with conn.transaction():
            if await conn.fetchval(CLAIM, CONSUMER, inbox_key(d.env)):
                await on_fact(conn, d)


async def replay(conn, case: uuid.UUID, order: list[Delivery]) -> dict:
    await conn.execute("DELETE FROM feedback.case_facts WHERE case_id = $1", case)
    await conn.execute("DELETE FROM feedback.inbox WHERE consumer = $1", CONSUMER)
    await apply(conn, *order)
    return dict(await conn.fetchrow(FACTS, case))


@pytest.mark.parametrize("story", ["extended_then_reopened", "extended_again_after_reopening", "reopened_twice",
                                   "transferred_twice", "reclassified_twice", "transferred_and_reclassified"])
async def test_any_order_and_redelivery_leave_what_time_order_leaves(conn, story):
    """150 shuffled orders of the story's events, some delivered two or three times, leave the row that delivery
    in time order leaves: the deadline of the latest event that set one, `extended` as routing has it, the
    latest transfer's affiliate and team and the latest reclassification's kind and topic."""
    rng = random.Random(story)
    case = uuid.uuid4()
    events, expected = _stories(case)[story]
    in_order = await replay(conn, case, events)
    assert {k: in_order[k] for k in expected} == expected
    for _ in range(150):
        order = events[:]
        rng.shuffle(order)
        for _ in range(rng.randint(0, 3)):  # a redelivery, anywhere after the first
            i = rng.randrange(len(order))
            order.insert(rng.randint(i + 1, len(order)), order[i])
        got = await replay(conn, case, order)
        assert (got["resolve_due"], got["extended"]) == (in_order["resolve_due"], in_order["extended"]), \
            [type(d.msg).__name__ for d in order]
        assert got == in_order, [type(d.msg).__name__ for d in order]


async def test_a_late_extension_from_before_the_reopening_does_not_bring_its_deadline_back(conn):
    """The case in the issue: extended, resolved, reopened; the CaseExtended is nak'd and comes after the
    CaseReopened, and again (a redelivery past the inbox, as after a rebuild of the facts)."""
    case = uuid.uuid4()
    extension, reopening = extended(case, 4, due(20)), reopened(case, 8, due(27))
    await apply(conn, routed(case), resolved(case, 6, True), reopening, extension)
    await facts.record(conn, extension.msg, extension.env.time)
    row = await conn.fetchrow(FACTS, case)
    assert (row["resolve_due"], row["extended"], row["reopened"]) == (due(27), False, 1)
    # a new extension of the fresh deadline counts, whenever it comes; the reopening redelivered is not counted
    await apply(conn, extended(case, 10, due(41)), reopening)
    row = await conn.fetchrow(FACTS, case)
    assert (row["resolve_due"], row["extended"], row["reopened"]) == (due(41), True, 1)


async def test_a_late_resolution_from_before_the_reopening_leaves_the_case_open(conn):
    case = uuid.uuid4()
    await apply(conn, routed(case), reopened(case, 8, due(27)), resolved(case, 6, True))
    row = await conn.fetchrow(FACTS, case)
    assert (row["resolved_at"], row["within_sla"], row["resolve_due"]) == (None, None, due(27))
    await apply(conn, resolved(case, 12, False))  # resolved again after the reopening
    row = await conn.fetchrow(FACTS, case)
    assert (row["resolved_at"], row["within_sla"]) == (at(12), False)


async def test_a_late_transfer_from_before_a_later_one_leaves_the_later_team(conn):
    """The case in the issue: transferred card -> bank, then bank -> insurance; the first CaseTransferred is
    nak'd and comes after the second, and again (a redelivery past the inbox); CaseRouted comes last of all.
    The same for two reclassifications."""
    case = uuid.uuid4()
    first, second = transferred(case, 4, due(20)), transferred(case, 7, due(24), "insurance", "fraud_response")
    corrected, recorrected = reclassified(case, 3, "inquiry", "loan"), reclassified(case, 5, "praise", "other")
    await apply(conn, second, recorrected, first, corrected)
    await facts.record(conn, first.msg, first.env.time)
    await facts.record(conn, corrected.msg, corrected.env.time)
    await apply(conn, routed(case))
    row = await conn.fetchrow(FACTS, case)
    assert (row["affiliate"], row["team"], row["resolve_due"], row["transferred_at"]) == (
        "insurance", "fraud_response", due(24), at(7))
    assert (row["kind"], row["topic"], row["reclassified_at"]) == ("praise", "other", at(5))
    assert (row["received_at"], row["channel"]) == (RECEIVED, "app")  # the routing's own facts


async def test_events_recorded_without_their_time_apply_as_the_latest(conn):
    """A caller that does not know an event's time (no envelope): applied as it comes, as before; a reopening
    from a routing that sent no deadline keeps the one the case has."""
    case = uuid.uuid4()
    await apply(conn, routed(case), extended(case, 9, due(24)))
    await facts.record(conn, reopened(case, 5, None).msg)
    row = await conn.fetchrow(FACTS, case)
    assert (row["resolve_due"], row["extended"], row["reopened"]) == (due(24), False, 1)
    await facts.record(conn, extended(case, 3, due(20)).msg)
    row = await conn.fetchrow(FACTS, case)
    assert (row["resolve_due"], row["extended"]) == (due(20), True)
    # a transfer and a reclassification without their time: applied, their time not kept
    await apply(conn, transferred(case, 6, due(26)), reclassified(case, 6, "inquiry", "loan"))
    await facts.record(conn, transferred(case, 4, due(22), "insurance", "fraud_response").msg)
    await facts.record(conn, reclassified(case, 4, "praise", "other").msg)
    row = await conn.fetchrow(FACTS, case)
    assert tuple(row[k] for k in ("affiliate", "team", "transferred_at", "kind", "topic", "reclassified_at")) == (
        "insurance", "fraud_response", at(6), "praise", "other", at(6))


async def test_facts_from_before_the_migration(database_url, tmp_path: Path):
    """Migration 012 on a database with facts: an open case whose pause ended keeps its deadline against a late
    CaseInfoProvided from before that end (the guard migration 011 gave it); a case extended before it counts
    as extended until it is reopened."""
    for p in sorted(MIGRATIONS.glob("*.sql")):
        if p.name[:3] <= "011":  # a deployment of session 33's version
            shutil.copy(p, tmp_path / p.name)
    c = await db.connect(database_url)
    try:
        await db.migrate(c, "feedback", tmp_path)
        paused, kept, resolved_case = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        insert = ("INSERT INTO feedback.case_facts (case_id, day, received_at, affiliate, team, resolve_due, "
                  "extended, pause_ended_at, resolved_at) VALUES ($1, '2026-03-02', $2, 'card', 'general', $3, $4, "
                  "$5, $6)")
        await c.execute(insert, paused, RECEIVED, due(20), False, at(9), None)
        await c.execute(insert, kept, RECEIVED, due(24), True, None, None)
        await c.execute(insert, resolved_case, RECEIVED, due(20), False, at(9), at(11))
        assert await db.migrate(c, "feedback", MIGRATIONS) == ["012_event_times.sql", "013_transfer_times.sql"]
        rows = {r["case_id"]: r for r in await c.fetch(
            "SELECT case_id, resolve_due_at, extended_at, reopened_at FROM feedback.case_facts")}
        assert [tuple(rows[x])[1:] for x in (paused, kept, resolved_case)] == [
            (at(9), None, None), (None, None, None), (None, None, None)]
        await facts.record(c, provided(paused, 6, due(14)).msg)  # a pause's end from before the one on record
        assert await c.fetchval("SELECT resolve_due FROM feedback.case_facts WHERE case_id = $1", paused) == due(20)
        await facts.record(c, provided(paused, 13, due(26)).msg)  # a later one
        assert await c.fetchval("SELECT resolve_due FROM feedback.case_facts WHERE case_id = $1", paused) == due(26)
        # the extension recorded before the migration stands until the case is reopened
        await facts.record(c, resolved(kept, 12, True).msg)
        assert await c.fetchval("SELECT extended FROM feedback.case_facts WHERE case_id = $1", kept) is True
        await facts.record(c, reopened(kept, 14, due(34)).msg, at(14))
        row = await c.fetchrow("SELECT extended, resolve_due, resolved_at FROM feedback.case_facts "
                               "WHERE case_id = $1", kept)
        assert tuple(row) == (False, due(34), None)
    finally:
        await c.close()


async def test_transfers_and_reclassifications_from_before_migration_013(database_url, tmp_path: Path):
    """Migration 013 on a database with facts: a case transferred and reclassified before it keeps its affiliate,
    team, kind and topic (no time: earlier than any event recorded after it) against its CaseRouted redelivered;
    a transfer or reclassification recorded after it replaces them, and an earlier one, late, leaves them."""
    for p in sorted(MIGRATIONS.glob("*.sql")):
        if p.name[:3] <= "012":  # a deployment of the version before
            shutil.copy(p, tmp_path / p.name)
    c = await db.connect(database_url)
    try:
        await db.migrate(c, "feedback", tmp_path)
        case = uuid.uuid4()
        await c.execute("INSERT INTO feedback.case_facts (case_id, day, received_at, affiliate, team, kind, topic, "
                        "resolve_due) VALUES ($1, '2026-03-02', $2, 'bank', 'general', 'inquiry', 'loan', $3)",
                        case, RECEIVED, due(20))
        assert await db.migrate(c, "feedback", MIGRATIONS) == ["013_transfer_times.sql"]
        cols = "SELECT affiliate, team, transferred_at, kind, topic, reclassified_at FROM feedback.case_facts " \
               "WHERE case_id = $1"
        assert tuple(await c.fetchrow(cols, case)) == ("bank", "general", None, "inquiry", "loan", None)
        await facts.record(c, routed(case).msg)  # redelivered: the transfer and the correction stand
        assert tuple(await c.fetchrow(cols, case)) == ("bank", "general", None, "inquiry", "loan", None)
        for d in (transferred(case, 9, due(29), "insurance", "fraud_response"), reclassified(case, 9, "praise",
                                                                                             "other")):
            await facts.record(c, d.msg, d.env.time)
        for d in (transferred(case, 5, due(25)), reclassified(case, 5, "complaint", "privacy")):  # late, earlier
            await facts.record(c, d.msg, d.env.time)
        assert tuple(await c.fetchrow(cols, case)) == ("insurance", "fraud_response", at(9), "praise", "other", at(9))
    finally:
        await c.close()
