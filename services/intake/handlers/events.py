"""Keeps the customer's status and timeline from the other services' events."""

from __future__ import annotations

import asyncpg

from services.intake.adapters import repository as repo
from services.intake.domain.timeline import entry_for
from shared.consumer import Delivery, Unprocessable


async def on_case_event(conn: asyncpg.Connection, d: Delivery) -> None:
    entry = entry_for(d.msg)
    if await conn.fetchval(repo.CASE_EXISTS, d.msg.case_id) is None:
        raise Unprocessable(f"case {d.msg.case_id} is not known to intake")
    await repo.add_timeline(conn, d.msg.case_id, d.env.id, entry.status, d.env.time, entry.message, entry.detail)
    if entry.advances_status:
        await conn.execute(repo.ADVANCE_STATUS, d.msg.case_id, entry.status, entry.rank)
