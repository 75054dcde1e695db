"""Accountability against real PostgreSQL (seed 003): a team's step on a case names the employee who
takes it, kept with the step in the case log; a team's command without one changes nothing, and over
NATS it is dead-lettered with the reason. The services' own steps (feedback reopening a case after a
poor rating) name no one. `moksori audit` shows an employee's reads and steps, or a case's."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import pytest

from services.routing.adapters import repository as repo
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
    # REQUIRE_STAFF_ID=false, while the affiliates' systems are changed: taken, with no employee
    unnamed = await _routed_card_case(conn)
    async with conn.transaction():
        await apply_command(conn, outbox, ack.model_copy(update={"case_id": unnamed}), calendar, owner="card",
                            require_staff=False)
    assert await _log(conn, unnamed) == [("CaseAcknowledged", None)]

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


async def _moksori(database_url: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "audit", *args, cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DATABASE_URL": database_url, "COLUMNS": "250"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def test_the_audit_command_shows_an_employees_reads_and_steps_and_everything_done_to_a_case(
        conn, database_url):
    case_id, other = await _routed_card_case(conn), await _routed_card_case(conn)
    outbox, calendar = Outbox("routing", "moksori/test"), load_calendar(DEFAULT_CALENDAR)
    await conn.execute(repo.RECORD_READ, case_id, "card", "C2019114")  # each read and step its own transaction
    await apply_command(conn, outbox, AcknowledgeCase(case_id=case_id, handler_name="김민지",
                                                      handler_contact="02-1588-0000", staff_id="C2019114"),
                        calendar, owner="card")
    await conn.execute(repo.RECORD_READ, other, "group", "O2026001")  # someone else, another case
    await apply_command(conn, outbox, ResolveCase(case_id=other, resolution="분실 카드 사용정지 완료",
                                                  staff_id="O2026001"), calendar, owner="group")
    await apply_command(conn, outbox, ReopenCase(case_id=other, reason="고객 만족도 조사 결과 불만족: 서비스 회복"),
                        calendar)  # feedback's own step: no employee
    code, out, err = await _moksori(database_url, "--staff", "C2019114", "--format", "json")
    assert code == 0, err
    assert [(r["action"], r["case_id"], r["via"]) for r in json.loads(out)] == [
        ("read", str(case_id), "card"), ("CaseAcknowledged", str(case_id), None)]
    code, out, err = await _moksori(database_url, "--case", str(other), "--format", "json")
    assert code == 0, err
    assert [(r["action"], r["staff_id"]) for r in json.loads(out)] == [
        ("read", "O2026001"), ("CaseResolved", "O2026001"), ("CaseReopened", None)]
    code, out, _ = await _moksori(database_url, "--staff", "C2019114", "--since", "2001-01-01", "--until",
                                  "2001-12-31", "--format", "json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = await _moksori(database_url, "--staff", "C2019114")  # the table an auditor reads
    assert code == 0 and "CaseAcknowledged" in out and "VOC-2026-000001" in out
    code, _, err = await _moksori(database_url)
    assert code == 2 and "name an employee (--staff) or a case (--case)" in err
    code, _, err = await _moksori(database_url, "--case", "VOC-2026-000001")
    assert code == 2 and "is not a case id" in err
