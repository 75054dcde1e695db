"""VocClassified in, CaseRouted out; lifecycle commands from NATS."""

from __future__ import annotations

import asyncpg

from services.routing.adapters import repository as repo
from shared.directory import Directory
from services.routing.domain.lifecycle import InvalidTransition
from services.routing.domain.rules import assign, shares_customer
from services.routing.domain.sla import deadlines
from services.routing.handlers.commands import NoStaff, NotOwner, apply_command
from shared.bizcal import BusinessCalendar
from shared.consumer import Delivery, Process, Unprocessable
from shared.events import CaseRouted, VocClassified
from shared.outbox import Outbox


def on_classified(outbox: Outbox, directory: Directory, calendar: BusinessCalendar) -> Process:
    def route(e: VocClassified) -> tuple[tuple, list[CaseRouted]]:
        """The case's ROUTE_CASES columns and the events it sends."""
        c = e.classification
        a = assign(c, e.affiliate_hint, directory, e.product)
        ack_due, resolve_due = deadlines(c.urgency, e.received_at, directory, calendar)
        routed = CaseRouted(case_id=e.case_id, tracking_code=e.tracking_code, channel=e.channel,
                            affiliate=a.affiliate, team=a.team, kind=c.kind, topic=c.topic, urgency=c.urgency,
                            flags=c.flags, text=e.text, received_at=e.received_at, ack_due=ack_due,
                            resolve_due=resolve_due, origin=e.origin,
                            repeat=c.repeat_count > 0 or any(ev.rule == "repeated" for ev in c.evidence),
                            duplicate=c.repeat_count > 0,
                            customer_ref=e.customer_ref if shares_customer(
                                a.affiliate, e.affiliate_hint, e.consent.cross_affiliate) else None,
                            # the customer's category, for a case the classifier found a suggestion (kept
                            # in the row for every case: a reclassification to suggestion keeps it)
                            suggestion_category=e.suggestion_category if c.kind == "suggestion" else None)
        out = [routed]
        if a.copy_reason:
            # the office's copy takes the customer's reference as a transfer to the office would
            out.append(routed.model_copy(update={
                "affiliate": "group", "team": "consumer_protection", "copy_reason": a.copy_reason,
                "customer_ref": e.customer_ref if shares_customer("group", e.affiliate_hint,
                                                                  e.consent.cross_affiliate) else None}))
        row = (e.case_id, e.tracking_code, e.channel, a.affiliate, a.team, c.kind, c.topic, c.urgency,
               ",".join(c.flags), bool(a.copy_reason), e.received_at, ack_due, resolve_due, e.origin,
               directory.sla[c.urgency].warn_at_fraction, e.backfill, e.suggestion_category,
               # kept for a handoff to another team later (lifecycle.handoff)
               e.text, e.customer_ref, e.affiliate_hint, e.consent.cross_affiliate, routed.repeat, routed.duplicate)
        return row, out

    async def write(conn: asyncpg.Connection, cases: list[VocClassified], hold_s: float | None = None) -> list:
        """The cases and their events; the events' outbox rows if written held (`hold_s`)."""
        rows, events = [], []
        for e in cases:
            row, out = route(e)
            rows.append(row)
            events += [(e.case_id, m) for m in out]
        ids, subjects, headers, bodies = outbox.columns([m for _, m in events])
        return await conn.fetch(repo.ROUTE_CASES, *(list(col) for col in zip(*rows)),
                                [case for case, _ in events], ids, subjects, headers, bodies, hold_s)

    async def process(conn: asyncpg.Connection, d: Delivery) -> None:
        await write(conn, [d.msg])  # type: ignore[list-item]

    async def one_statement(conn: asyncpg.Connection, ds: list[Delivery], hold_s: float) -> tuple[list, list]:
        """The batch's cases and all their events in one statement of its own (autocommit), the events
        written held for the consumer to publish; a case's second event in the batch is left for
        `process`, which finds the case routed and sends nothing again."""
        first: dict = {}
        rest = []
        for d in ds:
            if isinstance(d.msg, VocClassified) and d.msg.case_id not in first:
                first[d.msg.case_id] = d.msg
            else:
                rest.append(d)
        return rest, (await write(conn, list(first.values()), hold_s) if first else [])

    def idempotent(d: Delivery) -> bool:
        """A case is routed once: ROUTE_CASES writes nothing, and sends nothing, for a case it
        finds routed, so a redelivered VocClassified needs no inbox row to stay harmless."""
        return True

    process.one_statement = one_statement  # type: ignore[attr-defined]
    process.idempotent = idempotent  # type: ignore[attr-defined]
    return process


def on_command(outbox: Outbox, calendar: BusinessCalendar, *, from_teams: bool = False,
               require_staff: bool = True, directory: Directory | None = None) -> Process:
    """`from_teams`: commands on the affiliates' own subjects (voc.cmd.team.<affiliate>.case.*),
    applied only to that affiliate's cases."""
    async def process(conn: asyncpg.Connection, d: Delivery) -> None:
        owner = d.raw.subject.split(".")[3] if from_teams else None
        try:
            await apply_command(conn, outbox, d.msg, calendar, owner=owner,  # type: ignore[arg-type]
                                require_staff=require_staff, directory=directory)
        except (InvalidTransition, NotOwner, NoStaff) as exc:
            raise Unprocessable(str(exc)) from exc
        # UnknownCase is retried: the routing of the case may still be on its way

    return process
