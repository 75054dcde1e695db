"""Accountability against real PostgreSQL (seed 003): a team's step on a case names the employee who
takes it, kept with the step in the case log; a team's command without one changes nothing, and over
NATS it is dead-lettered with the reason. The services' own steps (feedback reopening a case after a
poor rating) name no one."""

from __future__ import annotations

import uuid

import pytest

from services.routing.handlers.commands import NoStaff, apply_command
from services.routing.handlers.events import on_classified, on_command
from shared.bizcal import DEFAULT_CALENDAR, load_calendar
from shared.cloudevents import envelope_for
from shared.consumer import Delivery, Unprocessable
from shared.events import AcknowledgeCase, ReopenCase, ResolveCase
from shared.outbox import Outbox
from shared.directory import DEFAULT_DIRECTORY, load_directory
from tests.integration.test_routing_bulk import CASES, classified

pytestmark = pytest.mark.integration

SERVICE = "routing"


async def _routed_card_case(conn) -> uuid.UUID:
    case_id = uuid.uuid4()
    process = on_classified(Outbox("routing", "moksori/test"), load_directory(DEFAULT_DIRECTORY),
                            load_calendar(DEFAULT_CALENDAR))
    async with conn.transaction():
        await process(conn, classified(case_id, 1, *CASES[0]))  # the card loss: the card affiliate's case
    return case_id


async def _log(conn, case_id) -> list[tuple]:
    return [tuple(r) for r in await conn.fetch(
        "SELECT event, staff_id FROM routing.case_log WHERE case_id = $1 ORDER BY id", case_id)]


async def test_a_teams_step_names_its_employee_and_a_services_step_names_no_one(conn):
    case_id = await _routed_card_case(conn)
    outbox, calendar = Outbox("routing", "moksori/test"), load_calendar(DEFAULT_CALENDAR)
    ack = AcknowledgeCase(case_id=case_id, handler_name="김민지", handler_contact="02-1588-0000")
    with pytest.raises(NoStaff, match="AcknowledgeCase from card names no staff_id"):
        async with conn.transaction():
            await apply_command(conn, outbox, ack, calendar, owner="card")
    assert await _log(conn, case_id) == []
    assert await conn.fetchval("SELECT status FROM routing.cases WHERE case_id = $1", case_id) == "routed"

    async with conn.transaction():
        await apply_command(conn, outbox, ack.model_copy(update={"staff_id": "C2019114"}), calendar, owner="card")
        await apply_command(conn, outbox, ResolveCase(case_id=case_id, resolution="분실 카드 사용정지 및 재발급 완료",
                                                      staff_id="O2026001"), calendar, owner="group")
        await apply_command(conn, outbox, ReopenCase(case_id=case_id, reason="고객 만족도 조사 결과 불만족: 서비스 회복"),
                            calendar)  # feedback's own command
    assert await _log(conn, case_id) == [("CaseAcknowledged", "C2019114"), ("CaseResolved", "O2026001"),
                                         ("CaseReopened", None)]
    # the employee stays in the audit log: the events other services read do not carry it
    bodies = await conn.fetch("SELECT body FROM routing.outbox WHERE headers->>'ce-subject' = $1", str(case_id))
    assert bodies and not any("C2019114" in str(r["body"]) for r in bodies)


async def test_a_teams_nats_command_without_an_employee_is_unprocessable(conn):
    case_id = await _routed_card_case(conn)
    process = on_command(Outbox("routing", "moksori/test"), load_calendar(DEFAULT_CALENDAR), from_teams=True)
    cmd = AcknowledgeCase(case_id=case_id, handler_name="박상담", handler_contact="1588-9999")

    class Raw:  # the subject a team publishes on
        subject = "voc.cmd.team.card.case.acknowledge"

    d = Delivery(env=envelope_for(cmd, source="team/card"), msg=cmd, raw=Raw())  # type: ignore[arg-type]
    with pytest.raises(Unprocessable, match="names no staff_id"):
        async with conn.transaction():
            await process(conn, d)
    signed = cmd.model_copy(update={"staff_id": "C2019114"})
    async with conn.transaction():
        await process(conn, Delivery(env=envelope_for(signed, source="team/card"), msg=signed, raw=Raw()))
    assert await _log(conn, case_id) == [("CaseAcknowledged", "C2019114")]
