"""Case lifecycle decisions (pure): each returns the event to record, or None when
the command repeats what already happened (so a retried command emits nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from shared.events import AcknowledgeCase, CaseAcknowledged, CaseResolved, ResolveCase


class InvalidTransition(ValueError):
    pass


@dataclass(frozen=True)
class CaseState:
    case_id: UUID
    affiliate: str
    team: str
    channel: str
    status: str
    handler_name: str | None = None
    resolution: str | None = None


def acknowledge(case: CaseState, cmd: AcknowledgeCase, now: datetime) -> CaseAcknowledged | None:
    if case.status == "acknowledged" and case.handler_name == cmd.handler_name:
        return None
    if case.status not in ("routed", "acknowledged"):
        raise InvalidTransition(f"case {case.case_id} is {case.status}; only a routed case can be acknowledged")
    return CaseAcknowledged(case_id=case.case_id, affiliate=case.affiliate, team=case.team,
                            handler_name=cmd.handler_name, handler_contact=cmd.handler_contact, acknowledged_at=now)


def resolve(case: CaseState, cmd: ResolveCase, now: datetime) -> CaseResolved | None:
    if case.status == "resolved":
        if case.resolution == cmd.resolution:
            return None
        raise InvalidTransition(f"case {case.case_id} is already resolved")
    if case.status not in ("routed", "acknowledged"):
        raise InvalidTransition(f"case {case.case_id} is {case.status}; it cannot be resolved")
    return CaseResolved(case_id=case.case_id, affiliate=case.affiliate, team=case.team, channel=case.channel,
                        resolution=cmd.resolution, resolved_at=now)
