"""Wires the classifier: model and lexicon, the batch VocReceived consumer, live call
screening, corrections, and a small HTTP API."""

from __future__ import annotations

from pathlib import Path

from services.classifier.adapters.lexicon_source import LexiconSource, watch
from services.classifier.adapters.live_context import LiveContextBucket
from services.classifier.adapters.loader import build_classifier
from services.classifier.handlers import events, http
from services.classifier.settings import ClassifierSettings
from shared.directory import load_directory
from shared.bus import SERVICE_CONSUMERS
from shared.config import build_or_exit, load_settings
from shared.events import CallSegmentReceived, CallSegmentsReceived, CaseReclassified, VocReceived
from shared.runtime import Runtime
from shared.telemetry import setup_logging, setup_tracing

MIGRATIONS = Path(__file__).parent / "migrations"
# live screening's rows that keep a redelivered segment from counting or alerting twice: kept as long as
# the inbox (no stream redelivers a message older), then deleted by housekeeping
LIVE_GUARDS = (("classifier.live_turns", "at"), ("classifier.live_calls", "updated_at"),
               ("classifier.live_alerts", "raised_at"))


def build(settings: ClassifierSettings) -> Runtime:
    rt = Runtime("classifier", settings, MIGRATIONS)
    source = LexiconSource(settings.lexicon_file)
    classifier = build_classifier(settings.model_file, source.get)  # fails naming file and line when broken
    rt.http.state.classifier = classifier
    rt.http.state.lexicon = source.get
    rt.background(lambda stop: watch(source, stop, settings.lexicon_reload_s))
    rt.http.include_router(http.router)
    specs = {c.durable: c for c in SERVICE_CONSUMERS if c.durable.startswith("classifier")}
    m = events.ClassifierMetrics(
        rt.metrics.counter("moksori_alerts_raised_total", "alerts raised by reason", ("reason", "live")),
        rt.metrics.histogram("moksori_classification_seconds", "time to classify one text",
                             (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)),
        rt.metrics.counter("moksori_action_requests_total", "card block and 지급정지 requests", ("action",)))
    rt.consume(specs["classifier"], (VocReceived,),
               events.OnReceived(rt.outbox, classifier, settings.repeat_window_days, m,
                                 product_owner=load_directory(settings.directory_file).affiliate_for_product))
    # the calls' latest turns' ends, shared by the replicas on classifier-live through the LIVE_CONTEXT bucket
    context = events.CallContext()
    shared = LiveContextBucket(context)
    context.write = shared.submit
    rt.background(lambda stop: shared.run(rt.nc, stop))
    rt.consume(specs["classifier-live"], (CallSegmentsReceived, CallSegmentReceived),
               events.on_segment(rt.publish_now, rt.outbox, classifier, m, context))
    rt.consume(specs["classifier-corrections"], (CaseReclassified,), events.on_reclassified)
    for table, column in LIVE_GUARDS:
        rt.retain(table, column)
    return rt


def create_app():
    """For HTTP_WORKERS > 1: uvicorn builds the app in each worker process."""
    settings = load_settings(ClassifierSettings, "classifier")
    setup_logging("classifier", settings.log_level)
    setup_tracing("classifier")
    return build(settings).http


def main() -> None:
    build_or_exit("classifier", build, load_settings(ClassifierSettings, "classifier")).serve()
