"""A reopened case's deadlines, and the office's copy of a flagged case, against real PostgreSQL: the next steps the team takes (acknowledging it,
extending it) must keep the warning between the reopening and the fresh deadline. `save` used to
measure it from the receipt again, so a case reopened months later was warned at once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.routing.adapters import repository as repo
from services.routing.handlers.commands import apply_command
from services.routing.handlers.events import on_classified
from shared.bizcal import DEFAULT_CALENDAR, load_calendar
from shared.cloudevents import envelope_for
from shared.consumer import Delivery
from shared.directory import DEFAULT_DIRECTORY, load_directory
from shared.events import (AcknowledgeCase, Classification, Consent, ExtendCase, ReopenCase, ResolveCase,
                           VocClassified)
from shared.outbox import Outbox

pytestmark = pytest.mark.integration

SERVICE = "routing"


async def test_a_case_reopened_long_after_its_receipt_is_warned_near_its_fresh_deadline(conn):
    calendar, outbox = load_calendar(DEFAULT_CALENDAR), Outbox("routing", "moksori/test")
    process = on_classified(outbox, load_directory(DEFAULT_DIRECTORY), calendar)
    case_id, received = uuid.uuid4(), datetime.now(UTC) - timedelta(days=300)
    c = Classification(kind="complaint", topic="card_payment", urgency="normal", flags=(), affiliate="card",
                       sentiment="negative", confidence={"topic": 0.9})
    msg = VocClassified(case_id=case_id, tracking_code="VOC-2026-000777", channel="app", affiliate_hint="card",
                        text="결제 취소했는데 환불이 아직도 안 됐어요", received_at=received, classification=c,
                        model_version="test")
    async with conn.transaction():
        await process(conn, Delivery(env=envelope_for(msg, source="moksori/test"), msg=msg, raw=None))

    async def step(cmd) -> tuple[datetime, datetime]:
        async with conn.transaction():
            await apply_command(conn, outbox, cmd, calendar)
        row = await conn.fetchrow("SELECT warn_at, resolve_due FROM routing.cases WHERE case_id = $1", case_id)
        return row["warn_at"], row["resolve_due"]

    await step(ResolveCase(case_id=case_id, resolution="환불 처리되었습니다", outcome="accepted"))
    reopened_at = datetime.now(UTC)
    warn, due = await step(ReopenCase(case_id=case_id, reason="고객 재문의: 환불 미입금"))
    assert reopened_at < warn < due
    for cmd in (AcknowledgeCase(case_id=case_id, handler_name="김민지", handler_contact="02-1588-0000"),
                ExtendCase(case_id=case_id, reason="가맹점 확인에 시일 소요", business_days=10)):
        warn, due = await step(cmd)
        assert reopened_at < warn < due, type(cmd).__name__
    # measured from the reopening: 80 % of the way from it to the extended deadline
    assert abs((warn - reopened_at) / (due - reopened_at) - 0.8) < 0.01


async def _routed(conn, outbox, calendar, **classified) -> uuid.UUID:
    process = on_classified(outbox, load_directory(DEFAULT_DIRECTORY), calendar)
    case_id, received = uuid.uuid4(), datetime.now(UTC) - timedelta(days=40)
    c = Classification(kind="complaint", topic="card_payment", urgency="normal", affiliate="card",
                       sentiment="negative", confidence={"topic": 0.9}, flags=classified.pop("flags", ()))
    msg = VocClassified(case_id=case_id, tracking_code="VOC-2026-000778", channel="app", affiliate_hint="card",
                        text="카드 결제 취소 건 환불이 한 달째 안 되고 있어요", received_at=received, classification=c,
                        model_version="test", **classified)
    async with conn.transaction():
        await process(conn, Delivery(env=envelope_for(msg, source="moksori/test"), msg=msg, raw=None))
    return case_id


async def test_a_case_resolved_unacknowledged_and_reopened_is_not_escalated_for_its_old_deadline(conn):
    """A quick answer straight from routed, then feedback's reopen after a poor rating: the first
    acknowledgement deadline (weeks past) made the next sweep escalate it to the supervisor at once."""
    calendar, outbox, directory = load_calendar(DEFAULT_CALENDAR), Outbox("routing", "moksori/test"), \
        load_directory(DEFAULT_DIRECTORY)
    case_id = await _routed(conn, outbox, calendar)
    async with conn.transaction():
        await apply_command(conn, outbox, ResolveCase(case_id=case_id, resolution="환불 처리 안내드렸습니다"),
                            calendar, directory=directory)
        await apply_command(conn, outbox, ReopenCase(case_id=case_id, reason="고객 만족도 불만족: 서비스 회복"),
                            calendar, directory=directory)
    now = datetime.now(UTC)
    due = await conn.fetch(repo.DUE_ACK_BREACHES, now, 100)
    assert case_id not in [r["case_id"] for r in due]
    assert await conn.fetchval("SELECT ack_due FROM routing.cases WHERE case_id = $1", case_id) > now


async def test_the_offices_copy_of_a_flagged_case_keeps_the_customer_only_with_consent(conn):
    calendar, outbox = load_calendar(DEFAULT_CALENDAR), Outbox("routing", "moksori/test")
    refs = {}
    for consent in (False, True):
        case_id = await _routed(conn, outbox, calendar, flags=("regulator",), customer_ref="CUST-****1234",
                                consent=Consent(cross_affiliate=consent))
        rows = await conn.fetch("SELECT subject, body FROM routing.outbox WHERE headers->>'ce-subject' = $1",
                                str(case_id))
        refs[consent] = {r["subject"]: json.loads(r["body"])["customer_ref"] for r in rows
                         if r["subject"].startswith("voc.routed.")}
    assert refs[False] == {"voc.routed.card.general": "CUST-****1234", "voc.routed.group.consumer_protection": None}
    assert refs[True]["voc.routed.group.consumer_protection"] == "CUST-****1234"
