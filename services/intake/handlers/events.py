"""Intake's consumers: the customer's status and timeline from the other services'
events, and VOCs that partner channel systems publish on NATS."""

from __future__ import annotations

import asyncpg

from services.intake.adapters import repository as repo
from services.intake.domain.timeline import entry_for, timeline_writes
from services.intake.handlers.submit import IntakeDeps, submit_voc
from shared.consumer import Delivery, Process, Unprocessable
from shared.events import VocSubmitted, partner_of
from shared.outbox import Outbox
from shared.pii import mask_payload, mask_speech


async def on_case_event(conn: asyncpg.Connection, d: Delivery) -> None:
    if await _bulk_case_events(conn, [d]):
        raise Unprocessable(f"case {d.msg.case_id} is not known to intake")


async def _bulk_case_events(conn: asyncpg.Connection, ds: list[Delivery]) -> list[Delivery]:
    """A fetched batch's timeline in one statement instead of three or four per event (one event
    alone goes the same way); events of cases intake does not know are returned, for
    `on_case_event` to refuse one by one."""
    shown = [(d, e) for d in ds if (e := entry_for(d.msg)) is not None]
    if not shown:
        return []
    known = await repo.write_timeline(conn, timeline_writes(
        (d.msg.case_id, d.env.id, d.env.time, d.msg, e) for d, e in shown), {d.msg.case_id for d, _ in shown})
    return [d for d, _ in shown if d.msg.case_id not in known]


async def _one_statement(conn: asyncpg.Connection, ds: list[Delivery], hold_s: float) -> tuple[list[Delivery], list]:
    """The same single statement, run on its own (autocommit) by the consumer: a batch is one round
    trip, not four or five. The timeline sends no events: there are no outbox rows to hold."""
    return await _bulk_case_events(conn, ds), []


def _idempotent(d: Delivery) -> bool:
    """Timeline rows are keyed by case and event id, and the status and the deadline move only
    to a later event's (timeline_writes): an event applied twice changes nothing, so the timeline
    consumer keeps no inbox rows (two or three per case)."""
    return True


on_case_event.bulk = _bulk_case_events  # type: ignore[attr-defined]
on_case_event.one_statement = _one_statement  # type: ignore[attr-defined]
on_case_event.idempotent = _idempotent  # type: ignore[attr-defined]


def on_partner_voc(deps: IntakeDeps, outbox: Outbox, *, own_subjects: bool = True) -> Process:
    """The partner's ce-source + ce-id is the idempotency key: a re-published event is the same VOC.
    Its message id is kept under its source too: two partners' ids may be the same string.
    On partners' own subjects (`own_subjects`), an event whose ce-source is not the subject's
    partner is refused (dead-lettered with the reason): its ids are not its to use."""

    async def process(conn: asyncpg.Connection, d: Delivery) -> None:
        msg: VocSubmitted = d.msg  # type: ignore[assignment]
        body = msg.model_copy(update={"channel_message_id": f"{d.env.source}:{msg.channel_message_id or d.env.id}"})
        outcome = await submit_voc(conn, deps, outbox, body, idempotency_key=f"{d.env.source}:{d.env.id}",
                                   submitted_by=f"nats:{d.env.source}")
        if outcome.status == "conflict":
            raise Unprocessable(f"{d.env.source} reused event id {d.env.id} for a different VOC")

    def refuse(d: Delivery) -> str | None:
        try:
            partner_of(d.raw.subject, d.env.source)
        except ValueError as exc:
            return str(exc)
        return None

    if own_subjects:
        process.refuse = refuse  # type: ignore[attr-defined]
    return process


def redact_speech(data: bytes) -> bytes:
    """A call-ingress payload that could not be taken: masked as speech (pii.mask_speech) before
    it is dead-lettered, since its text is a live transcript."""
    return mask_payload(data, mask_speech)
