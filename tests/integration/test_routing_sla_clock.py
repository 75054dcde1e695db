"""A reopened case's warning, against real PostgreSQL: the next steps the team takes (acknowledging it,
extending it) must keep the warning between the reopening and the fresh deadline. `save` used to
measure it from the receipt again, so a case reopened months later was warned at once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.routing.handlers.commands import apply_command
from services.routing.handlers.events import on_classified
from shared.bizcal import DEFAULT_CALENDAR, load_calendar
from shared.cloudevents import envelope_for
from shared.consumer import Delivery
from shared.directory import DEFAULT_DIRECTORY, load_directory
from shared.events import (AcknowledgeCase, Classification, ExtendCase, ReopenCase, ResolveCase, VocClassified)
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
