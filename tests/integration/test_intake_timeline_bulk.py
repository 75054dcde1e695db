"""Intake's timeline consumer writes a fetched batch in a few statements. Whatever the order
and the ties in event time, the cases and timelines end exactly as applying the events one
by one does; events of unknown cases are left for the one-by-one path, which refuses them."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.intake.handlers.events import on_case_event
from shared.cloudevents import envelope_for
from shared.consumer import Delivery, Unprocessable
from shared.events import (CaseAcknowledged, CaseResolved, CaseRouted, Classification, FeedbackSubmitted,
                           SurveyRequested, VocClassified)

pytestmark = pytest.mark.integration
SERVICE = "intake"  # the `conn` fixture (conftest.py) applies its migrations

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CLS = Classification(kind="complaint", topic="card_payment", urgency="high", affiliate="card", sentiment="negative",
                     confidence={"kind": 0.9})
INSERT_CASE = """
INSERT INTO intake.cases (id, tracking_code, channel, request_hash, text_masked, text_encrypted, consent, status,
                          status_rank, received_at, first_response_due, response, status_at)
VALUES ($1, $2, 'app', 'h', '카드 결제가 두 번 됐어요', '\\x00', '{}', 'received', 0, $3, $3, '{}', $3)"""
CASE_STATE = "SELECT status, status_rank, status_at, expected_resolution FROM intake.cases WHERE id = $1"
TIMELINE = "SELECT event_id, status, at, message, detail FROM intake.timeline WHERE case_id = $1 ORDER BY event_id"


def events(case_id: UUID, rated: bool = True) -> list[tuple[object, datetime]]:
    """A case's events with their times: two share a time, and one arrives after a later one."""
    common = dict(case_id=case_id, affiliate="card", team="general")
    routed = dict(tracking_code="VOC-2026-000001", channel="app", kind="complaint", topic="card_payment",
                  urgency="high", text="…", received_at=T0)
    return [
        (VocClassified(case_id=case_id, tracking_code="VOC-2026-000001", channel="app", text="…", received_at=T0,
                       classification=CLS, model_version="t"), T0 + timedelta(seconds=1)),
        (CaseRouted(**common, **routed, resolve_due=T0 + timedelta(days=7)), T0 + timedelta(seconds=2)),
        (CaseRouted(case_id=case_id, affiliate="group", team="consumer_protection", copy_reason=("regulator",),
                    **routed), T0 + timedelta(seconds=2)),
        (CaseAcknowledged(**common, handler_name="김민지", handler_contact="02-1588-0000", acknowledged_at=T0),
         T0 + timedelta(seconds=5)),
        (CaseResolved(**common, channel="app", resolution="이중 결제 취소 완료", resolved_at=T0),
         T0 + timedelta(seconds=5)),  # the same time as the acknowledgement: the first one wins
        (SurveyRequested(case_id=case_id, channel="app", delivery="app_push", token="t", expires_at=T0),
         T0 + timedelta(seconds=6)),
        (CaseRouted(**common, **routed, resolve_due=T0 + timedelta(days=9)), T0 + timedelta(seconds=3)),  # late
    ] + ([(FeedbackSubmitted(case_id=case_id, csat=5, submitted_at=T0), T0 + timedelta(seconds=8))] if rated else [])


def deliveries(case_id: UUID, order: list[int], rated: bool = True) -> list[Delivery]:
    evs = events(case_id, rated)
    return [Delivery(env=envelope_for(evs[i][0], source="moksori/test", id=f"{case_id}-{i}", time=evs[i][1]),
                     msg=evs[i][0], raw=None) for i in order]  # type: ignore[arg-type]


async def state(conn, case_id: UUID):
    rows = [(r["event_id"].split("-", 5)[-1], r["status"], r["at"], r["message"], json.dumps(r["detail"]))
            for r in await conn.fetch(TIMELINE, case_id)]
    return tuple(await conn.fetchrow(CASE_STATE, case_id)), rows


@pytest.mark.parametrize("rated", [True, False])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_a_batch_written_at_once_ends_as_one_by_one(conn, seed, rated):
    """At once: the batch's one statement, run on its own as the consumer runs it (autocommit) for
    odd seeds, inside a transaction for even ones."""
    order = list(range(len(events(uuid4(), rated))))
    random.Random(seed).shuffle(order)
    one_by_one, at_once = uuid4(), uuid4()
    for i, case_id in enumerate((one_by_one, at_once)):
        await conn.execute(INSERT_CASE, case_id, f"VOC-T-{seed}-{i}-{case_id.hex[:6]}", T0)
    async with conn.transaction():
        for d in deliveries(one_by_one, order, rated):
            await on_case_event(conn, d)
    if seed % 2:
        assert await on_case_event.one_statement(conn, deliveries(at_once, order, rated), 5.0) == ([], [])
    else:
        async with conn.transaction():
            assert await on_case_event.bulk(conn, deliveries(at_once, order, rated)) == []
    assert await state(conn, at_once) == await state(conn, one_by_one)
    status, rank, status_at, due = (await state(conn, at_once))[0]
    if rated:
        assert (status, rank, status_at) == ("closed", 6, T0 + timedelta(seconds=8, microseconds=1))
    else:  # acknowledged and resolved share the latest time: the one delivered first stands
        first = "acknowledged" if order.index(3) < order.index(4) else "resolved"
        assert (status, status_at) == (first, T0 + timedelta(seconds=5))
    assert due == T0 + timedelta(days=9)  # the latest event's (at +3 s), in whatever order it came


@pytest.mark.parametrize("seed", [5, 6])
async def test_events_applied_again_change_nothing_so_no_inbox_is_needed(conn, seed):
    """The timeline consumer keeps no inbox rows (a lost ack, or events from two streams in any
    order, may bring an event twice, an old one after a newer one): applying every event a second
    time, in another order, must leave the case and its timeline as they were."""
    case_id = uuid4()
    await conn.execute(INSERT_CASE, case_id, f"VOC-T-R-{seed}-{case_id.hex[:6]}", T0)
    order = list(range(len(events(case_id))))
    random.Random(seed).shuffle(order)
    async with conn.transaction():
        assert await on_case_event.bulk(conn, deliveries(case_id, order)) == []
    once = await state(conn, case_id)
    for i in [*reversed(order), 1]:  # again, one by one, backwards, and the older routing last
        async with conn.transaction():
            await on_case_event(conn, deliveries(case_id, [i])[0])
    assert await state(conn, case_id) == once
    assert on_case_event.idempotent(deliveries(case_id, [0])[0])


async def test_events_of_an_unknown_case_are_left_to_the_one_by_one_path_which_refuses_them(conn):
    known, unknown = uuid4(), uuid4()
    await conn.execute(INSERT_CASE, known, f"VOC-T-K-{known.hex[:8]}", T0)
    rest, own = await on_case_event.one_statement(conn, deliveries(known, [0, 1]) + deliveries(unknown, [0]), 5.0)
    assert [d.msg.case_id for d in rest] == [unknown] and own == []
    assert not await conn.fetchval("SELECT count(*) FROM intake.timeline WHERE case_id = $1", unknown)
    assert (await state(conn, known))[0][0] == "routed"
    with pytest.raises(Unprocessable, match="not known to intake"):
        await on_case_event(conn, rest[0])
