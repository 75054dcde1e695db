"""VocReceived in, VocClassified (and alerts) out, through the outbox."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from services.classifier.adapters.repository import INSERT_CLASSIFICATION
from services.classifier.domain.alerts import alerts_for, live_alerts
from services.classifier.domain.lexicon import Lexicon
from services.classifier.domain.rules import MODEL_VERSION, classify_text
from shared.consumer import Delivery
from shared.events import CallSegmentReceived, VocClassified, VocReceived
from shared.outbox import Outbox


@dataclass(frozen=True)
class ClassifierMetrics:
    alerts: object = None
    latency: object = None


def on_received(outbox: Outbox, lexicon: Callable[[], Lexicon], metrics: ClassifierMetrics = ClassifierMetrics()):
    async def process(conn: asyncpg.Connection, d: Delivery) -> None:
        e: VocReceived = d.msg  # type: ignore[assignment]
        text = e.classification_text()  # evidence offsets refer to this text, which travels on
        started = time.perf_counter()
        c = classify_text(text, lexicon(), channel=e.channel, affiliate_hint=e.affiliate_hint,
                          kind_hint=e.kind_hint)
        if metrics.latency:
            metrics.latency.observe(time.perf_counter() - started)
        inserted = await conn.fetchval(INSERT_CLASSIFICATION, e.case_id, c.kind, c.topic, c.urgency, list(c.flags),
                                       c.affiliate, c.sentiment, c.model_dump(mode="json"), MODEL_VERSION)
        if inserted is None:
            return  # classified before under another event id; do not emit twice
        await outbox.add(conn, VocClassified(
            case_id=e.case_id, tracking_code=e.tracking_code, channel=e.channel, text=text,
            affiliate_hint=e.affiliate_hint, consent=e.consent, received_at=e.received_at, classification=c,
            model_version=MODEL_VERSION, origin=e.origin, product=e.product,
            customer_ref=e.customer_ref))
        for alert in alerts_for(e.case_id, c):
            await outbox.add(conn, alert)
            if metrics.alerts:
                metrics.alerts.labels(alert.reason, "false").inc()

    return process


INSERT_LIVE_ALERT = """
INSERT INTO classifier.live_alerts (call_id, reason) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING reason"""


def on_segment(outbox: Outbox, lexicon: Callable[[], Lexicon], metrics: ClassifierMetrics = ClassifierMetrics()):
    async def process(conn: asyncpg.Connection, d: Delivery) -> None:
        seg: CallSegmentReceived = d.msg  # type: ignore[assignment]
        if seg.speaker != "customer":  # an agent saying 금감원 is not the customer escalating
            return
        for alert in live_alerts(seg.case_id, seg.call_id, seg.text, lexicon()):
            if await conn.fetchval(INSERT_LIVE_ALERT, seg.call_id, alert.reason) is not None:
                await outbox.add(conn, alert)
                if metrics.alerts:
                    metrics.alerts.labels(alert.reason, "true").inc()

    return process
