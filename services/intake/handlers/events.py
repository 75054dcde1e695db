"""Intake's consumers: the customer's status and timeline from the other services'
events, and VOCs that partner channel systems publish on NATS."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from services.intake.adapters import repository as repo
from services.intake.domain.timeline import closing_entry, entry_for
from services.intake.handlers.submit import IntakeDeps, submit_voc
from shared.consumer import Delivery, Process, Unprocessable
from shared.events import CaseRouted, VocSubmitted
from shared.outbox import Outbox
from shared.pii import mask_text


async def on_case_event(conn: asyncpg.Connection, d: Delivery) -> None:
    entry = entry_for(d.msg)
    if entry is None:
        return
    if await conn.fetchval(repo.CASE_EXISTS, d.msg.case_id) is None:
        raise Unprocessable(f"case {d.msg.case_id} is not known to intake")
    await repo.add_timeline(conn, d.msg.case_id, d.env.id, entry.status, d.env.time, entry.message, entry.detail)
    if entry.advances_status:
        await conn.execute(repo.ADVANCE_STATUS, d.msg.case_id, entry.status, entry.rank, d.env.time)
    closing = closing_entry(d.msg)
    if closing:  # a second entry for the same event, just after it
        at = d.env.time + timedelta(microseconds=1)
        await repo.add_timeline(conn, d.msg.case_id, f"{d.env.id}:closed", closing.status, at, closing.message, {})
        await conn.execute(repo.ADVANCE_STATUS, d.msg.case_id, closing.status, closing.rank, at)
    due = entry.expected_resolution or (
        d.msg.resolve_due if isinstance(d.msg, CaseRouted) and not d.msg.copy_reason else None)
    if due:
        await conn.execute(repo.SET_EXPECTED_RESOLUTION, d.msg.case_id, due)


def on_partner_voc(deps: IntakeDeps, outbox: Outbox) -> Process:
    """The partner's ce-source + ce-id is the idempotency key: a re-published event is the same VOC."""

    async def process(conn: asyncpg.Connection, d: Delivery) -> None:
        msg: VocSubmitted = d.msg  # type: ignore[assignment]
        body = msg.model_copy(update={"channel_message_id": msg.channel_message_id or d.env.id})
        outcome = await submit_voc(conn, deps, outbox, body, idempotency_key=f"{d.env.source}:{d.env.id}",
                                   submitted_by=f"nats:{d.env.source}")
        if outcome.status == "conflict":
            raise Unprocessable(f"{d.env.source} reused event id {d.env.id} for a different VOC")

    return process


def redact_raw(data: bytes) -> bytes:
    """A partner payload that could not be taken still must not carry raw PII onto the DLQ."""
    return mask_text(data.decode("utf-8", errors="replace")).encode()
