"""Lifecycle commands, the same for NATS and HTTP: lock the case, decide, record."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from services.routing.adapters import repository as repo
from services.routing.domain import lifecycle
from shared.bizcal import BusinessCalendar
from shared.directory import Directory
from shared.events import CaseCommand, Event
from shared.outbox import Outbox
from shared.pii import mask_text


class UnknownCase(LookupError):
    pass


class NotOwner(UnknownCase):
    """The case belongs to another affiliate (told as "unknown": another affiliate's cases are not shown)."""


class NoStaff(ValueError):
    """A team's command that does not name the employee taking it."""


# what staff write in their own words, which goes on to the bus, the customer's notices and timeline, and the
# case log: masked like everything that leaves intake (an account number for a refund, the customer's phone).
# The handler's name and office contact are given to the customer on purpose and stay as written.
FREE_TEXT = ("resolution", "what", "note", "reason")


def masked(cmd: CaseCommand) -> CaseCommand:
    update = {f: m for f in FREE_TEXT if isinstance(v := getattr(cmd, f, None), str) and (m := mask_text(v)) != v}
    return cmd.model_copy(update=update) if update else cmd


async def apply_command(conn: asyncpg.Connection, outbox: Outbox, cmd: CaseCommand,
                        calendar: BusinessCalendar, owner: str | None = None, require_staff: bool = True,
                        directory: Directory | None = None) -> Event | None:
    """`owner`: the affiliate the command comes from (a team key, a team's NATS subject); checked
    against the case under its row lock, so a transfer cannot slip between check and change. None
    (the services' own commands) and the group consumer-protection office may act on any case.
    A team's command must name its employee (`staff_id`), who is kept with the step in the case log
    (`require_staff` False: REQUIRE_STAFF_ID=false during the affiliates' change-over)."""
    if owner is not None and cmd.staff_id is None and require_staff:
        raise NoStaff(f"{type(cmd).__name__} from {owner} names no staff_id: the employee (사번) who takes the "
                      "step is required for the case's audit log")
    case = await repo.lock_case(conn, cmd.case_id)
    if case is None:
        raise UnknownCase(f"case {cmd.case_id} has not been routed")
    if owner not in (None, "group") and case.affiliate != owner:
        raise NotOwner(f"no case {cmd.case_id} for {owner}")
    decision = lifecycle.decide(case, masked(cmd), datetime.now(UTC), calendar, directory)
    if decision is None:
        return None
    await repo.save(conn, case.case_id, decision.changes, decision.event, cmd.staff_id)
    await outbox.add(conn, decision.event)
    if decision.notice:
        await outbox.add(conn, decision.notice)
    if decision.handoff:
        await outbox.add(conn, decision.handoff)
    return decision.event
