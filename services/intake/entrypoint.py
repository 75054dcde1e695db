"""Wires intake: settings, data files, the edge guard, HTTP routes, the timeline and
partner consumers."""

from __future__ import annotations

import logging
from pathlib import Path

from services.intake.adapters.accept_batcher import AcceptBatcher
from services.intake.adapters.apikeys import KeyStore
from services.intake.handlers import calls, events, http, status_page
from services.intake.handlers.fast_submit import FastSubmit
from services.intake.handlers.guard import BodyGuard, RateLimiter
from services.intake.handlers.submit import IntakeDeps
from services.intake.settings import IntakeSettings
from shared.bizcal import load_calendar, warn_if_incomplete
from shared.bus import SERVICE_CONSUMERS
from shared.config import build_or_exit, load_settings
from shared.events import (
    AlertRaised, CallEnded, CaseAcknowledged, CaseExtended, CaseInfoProvided, CaseInfoRequested, CaseReclassified,
    CaseReopened, CaseResolved, CaseRouted, CaseTransferred, FeedbackSubmitted, RewardGranted, SttSegment,
    SuggestionReviewed,
    SurveyRequested, VocClassified, VocSubmitted,
)
from shared.pii_crypto import PiiCipher
from shared.runtime import Runtime
from shared.telemetry import setup_logging, setup_tracing

MIGRATIONS = Path(__file__).parent / "migrations"
TIMELINE_EVENTS = (VocClassified, CaseRouted, CaseAcknowledged, CaseResolved, SurveyRequested, FeedbackSubmitted,
                   CaseInfoRequested, CaseInfoProvided, CaseExtended, CaseTransferred, CaseReopened,
                   CaseReclassified, SuggestionReviewed, RewardGranted)  # every event on the subjects it reads


def build(settings: IntakeSettings) -> Runtime:
    rt = Runtime("intake", settings, MIGRATIONS, needs_nats_to_serve=False)
    deps = IntakeDeps(cipher=PiiCipher.from_spec(settings.pii_keys), access_key=settings.case_access_key,
                      calendar=load_calendar(settings.calendar_file),
                      response_days=settings.first_response_business_days, status_base_url=settings.status_base_url)
    warn_if_incomplete(deps.calendar, settings.calendar_file, logging.getLogger("moksori.calendar"))
    rt.http.state.intake = deps
    rt.http.state.limiter = RateLimiter()
    rt.on_start(lambda: setattr(rt.http.state, "keys", KeyStore(rt.pool, settings.api_key_cache_s)))
    rt.on_start(lambda: setattr(rt.http.state, "batcher", AcceptBatcher(rt.pool, hold_s=rt.outbox.hold_s,
                                                                         dispatch=rt.dispatch, wake=rt.wake_relay)))
    rt.http.add_middleware(FastSubmit)
    rt.http.add_middleware(BodyGuard)  # outermost: FastSubmit reads a body already bounded and checked
    rt.http.include_router(http.router)
    rt.http.include_router(status_page.page)
    for spec in SERVICE_CONSUMERS:
        if spec.durable == "intake-timeline":
            rt.consume(spec, TIMELINE_EVENTS, events.on_case_event)
        elif spec.durable == "intake-partner":
            rt.consume(spec, (VocSubmitted,), events.on_partner_voc(deps, rt.outbox))
        elif spec.durable == "intake-partner-legacy":
            rt.consume(spec, (VocSubmitted,), events.on_partner_voc(deps, rt.outbox, own_subjects=False))
        elif spec.durable == "intake-calls":
            rt.consume(spec, (SttSegment, CallEnded), calls.on_call_ingress(deps, rt.outbox, rt.publish_now), redact=events.redact_speech)
        elif spec.durable == "intake-call-alerts":
            rt.consume(spec, (AlertRaised,), calls.on_call_alert(deps, rt.outbox))
    return rt


def create_app():
    """For HTTP_WORKERS > 1: uvicorn builds the app in each worker process."""
    settings = load_settings(IntakeSettings, "intake")
    setup_logging("intake", settings.log_level)
    setup_tracing("intake")
    return build(settings).http


def main() -> None:
    build_or_exit("intake", build, load_settings(IntakeSettings, "intake")).serve()
