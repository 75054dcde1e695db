"""Lifecycle commands, the same for NATS and HTTP: lock the case, decide, record."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from services.routing.adapters import repository as repo
from services.routing.domain import lifecycle
from shared.events import AcknowledgeCase, CaseAcknowledged, CaseResolved, Command, Event, ResolveCase
from shared.outbox import Outbox


class UnknownCase(LookupError):
    pass


async def apply_command(conn: asyncpg.Connection, outbox: Outbox, cmd: Command) -> Event | None:
    case = await repo.lock_case(conn, cmd.case_id)
    if case is None:
        raise UnknownCase(f"case {cmd.case_id} has not been routed")
    now = datetime.now(UTC)
    event: Event | None
    match cmd:
        case AcknowledgeCase():
            event = lifecycle.acknowledge(case, cmd, now)
            if isinstance(event, CaseAcknowledged):
                await conn.execute(repo.MARK_ACKNOWLEDGED, case.case_id, now, cmd.handler_name, cmd.handler_contact)
        case ResolveCase():
            event = lifecycle.resolve(case, cmd, now)
            if isinstance(event, CaseResolved):
                await conn.execute(repo.MARK_RESOLVED, case.case_id, now, cmd.resolution)
        case _:
            raise TypeError(f"routing does not handle {type(cmd).__name__}")
    if event is not None:
        await outbox.add(conn, event)
    return event
