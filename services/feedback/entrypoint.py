"""Wires feedback: survey requests on resolution, responses over HTTP and NATS."""

from __future__ import annotations

from pathlib import Path

from services.feedback.handlers import events, http
from services.feedback.settings import FeedbackSettings
from shared.bus import SERVICE_CONSUMERS
from shared.config import load_settings
from shared.events import CaseResolved, SubmitFeedback
from shared.runtime import Runtime
from shared.telemetry import setup_logging

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: FeedbackSettings) -> Runtime:
    rt = Runtime("feedback", settings, MIGRATIONS)
    rt.http.state.survey_secret = settings.survey_secret
    rt.http.include_router(http.router)
    specs = {c.durable: c for c in SERVICE_CONSUMERS if c.durable.startswith("feedback")}
    rt.consume(specs["feedback-resolved"], (CaseResolved,),
               events.on_resolved(rt.outbox, settings.survey_secret, settings.survey_ttl_days))
    rt.consume(specs["feedback-commands"], (SubmitFeedback,), events.on_submit(rt.outbox, settings.survey_secret))
    return rt


def create_app():
    """For HTTP_WORKERS > 1: uvicorn builds the app in each worker process."""
    settings = load_settings(FeedbackSettings, "feedback")
    setup_logging("feedback", settings.log_level)
    return build(settings).http


def main() -> None:
    build(load_settings(FeedbackSettings, "feedback")).serve()
