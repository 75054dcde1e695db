"""Wires intake: settings, data files, HTTP routes and the timeline consumers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.intake.handlers import events, http
from services.intake.settings import IntakeSettings
from shared.bizcal import BusinessCalendar, load_calendar
from shared.bus import SERVICE_CONSUMERS
from shared.config import load_settings
from shared.events import (
    CaseAcknowledged, CaseResolved, CaseRouted, FeedbackSubmitted, SurveyRequested, VocClassified,
)
from shared.pii import PiiCipher
from shared.runtime import Runtime

MIGRATIONS = Path(__file__).parent / "migrations"
TIMELINE_EVENTS = (VocClassified, CaseRouted, CaseAcknowledged, CaseResolved, SurveyRequested, FeedbackSubmitted)


@dataclass(frozen=True)
class IntakeDeps:
    cipher: PiiCipher
    access_key: str
    calendar: BusinessCalendar
    response_days: int


def build(settings: IntakeSettings) -> Runtime:
    rt = Runtime("intake", settings, MIGRATIONS, needs_nats_to_serve=False)
    rt.http.state.intake = IntakeDeps(
        cipher=PiiCipher.from_spec(settings.pii_keys), access_key=settings.case_access_key,
        calendar=load_calendar(settings.calendar_file), response_days=settings.first_response_business_days)
    rt.http.include_router(http.router)
    for spec in SERVICE_CONSUMERS:
        if spec.durable == "intake-timeline":
            rt.consume(spec, TIMELINE_EVENTS, events.on_case_event)
    return rt


def main() -> None:
    build(load_settings(IntakeSettings, "intake")).serve()
