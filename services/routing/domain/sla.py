"""SLA deadlines under Korean practice (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.directory import Directory
from shared.bizcal import BusinessCalendar


def deadlines(urgency: str, received_at: datetime, directory: Directory,
              calendar: BusinessCalendar) -> tuple[datetime | None, datetime]:
    """(acknowledge by, resolve by). Critical cases are acknowledged within hours,
    around the clock; the rest count business days on the calendar."""
    rule = directory.sla[urgency]
    ack = None
    if rule.ack_hours is not None:
        ack = received_at + timedelta(hours=rule.ack_hours)
    elif rule.ack_business_days is not None:
        ack = calendar.add_business_days(received_at, rule.ack_business_days)
    if rule.resolve_hours is not None:
        return ack, received_at + timedelta(hours=rule.resolve_hours)
    return ack, calendar.add_business_days(received_at, rule.resolve_business_days)


def warn_at(received_at: datetime, resolve_due: datetime, fraction: float) -> datetime:
    """The pre-breach warning: when `fraction` of the time to resolve has gone."""
    return received_at + (resolve_due - received_at) * fraction
