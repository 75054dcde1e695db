"""Wires feedback: survey requests on resolution, responses over HTTP and NATS."""

from __future__ import annotations

from pathlib import Path

from services.feedback.handlers import consultations, dashboard, events, http
from services.feedback.handlers.group_commit import GroupCommit
from shared.directory import load_directory
from services.feedback.settings import FeedbackSettings
from shared.bus import SERVICE_CONSUMERS
from shared.config import build_or_exit, load_settings
from services.classifier.adapters.loader import build_classifier
from services.feedback.domain.rewards import load_rewards
from shared.events import ALL_EVENTS, CaseResolved, SubmitFeedback, SuggestionReviewed
from shared.runtime import Runtime
from shared.team_keys import parse_team_keys
from shared.telemetry import setup_logging, setup_tracing

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: FeedbackSettings) -> Runtime:
    # its HTTP routes write through the outbox and read PostgreSQL: they serve while NATS is away
    rt = Runtime("feedback", settings, MIGRATIONS, needs_nats_to_serve=False)
    rt.http.state.survey_secret = settings.survey_secret
    rt.http.state.survey_ttl = settings.survey_ttl_days
    rt.http.state.survey_base_url = settings.survey_base_url
    rt.http.state.consultation_keys = (parse_team_keys(settings.consultation_keys)
                                       if settings.consultation_keys else None)
    rt.http.state.dashboard_keys = parse_team_keys(settings.dashboard_keys) if settings.dashboard_keys else None
    classifier = build_classifier(settings.model_file, settings.lexicon_file)
    classify = classifier.classify  # the classifier's library, on the masked comment
    rt.http.state.classify = classify
    rt.http.state.answers = GroupCommit(lambda: rt.pool, rt.outbox)  # answers over HTTP, written together
    rt.http.include_router(http.router)
    rt.http.include_router(http.page)
    rt.http.include_router(consultations.router)
    rt.http.include_router(dashboard.router)
    directory = load_directory(settings.directory_file)
    rt.http.state.denominators = {a: e.denominator for a, e in directory.affiliates.items()}
    specs = {c.durable: c for c in SERVICE_CONSUMERS if c.durable.startswith("feedback")}
    rt.consume(specs["feedback-resolved"], (CaseResolved,),
               events.on_resolved(rt.outbox, settings.survey_secret, settings.survey_ttl_days,
                                 settings.survey_base_url))
    rt.consume(specs["feedback-commands"], (SubmitFeedback,),
               events.on_submit(rt.outbox, settings.survey_secret, classify))
    rt.consume(specs["feedback-reviews"], (SuggestionReviewed,),
               events.on_reviewed(rt.outbox, load_rewards(settings.rewards_file)))
    for spec in SERVICE_CONSUMERS:
        if spec.durable == "feedback-facts":
            rt.consume(spec, ALL_EVENTS, events.on_fact)
    return rt


def create_app():
    """For HTTP_WORKERS > 1: uvicorn builds the app in each worker process."""
    settings = load_settings(FeedbackSettings, "feedback")
    setup_logging("feedback", settings.log_level)
    setup_tracing("feedback")
    return build(settings).http


def main() -> None:
    build_or_exit("feedback", build, load_settings(FeedbackSettings, "feedback")).serve()
