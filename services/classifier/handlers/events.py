"""The classifier's consumers: VocReceived in batches → VocClassified, alerts and
action requests; live call segments → alerts during the call; corrections → stored."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from services.classifier.adapters import repository as sql
from services.classifier.domain.alerts import alerts_for, emotion_alert, screen_segment
from services.classifier.domain.classify import Classifier, Item, raise_urgency
from shared.consumer import Delivery
from shared.events import (AccountFreezeRequested, AlertRaised, CallSegmentReceived, CardBlockRequested,
                           CaseReclassified, Classification, VocClassified, VocReceived)
from shared.outbox import Outbox


@dataclass(frozen=True)
class ClassifierMetrics:
    alerts: object = None
    latency: object = None
    actions: object = None


def action_requests(e: VocReceived, c: Classification) -> list[CardBlockRequested | AccountFreezeRequested]:
    """Critical card loss asks the card system for a block; a critical scam loss asks the
    bank for 지급정지. Only when a money-at-risk rule matched (its evidence goes along)."""
    evidence = tuple(ev for ev in c.evidence if ev.field == "urgency" and ev.label == "critical")
    if c.urgency != "critical" or not evidence:
        return []
    common = dict(case_id=e.case_id, tracking_code=e.tracking_code, customer_ref=e.customer_ref, evidence=evidence)
    if c.topic == "card_loss_theft":
        return [CardBlockRequested(reason="카드 분실·도난·부정사용: 카드 사용 정지 요청", **common)]
    if c.topic == "fraud_phishing":
        return [AccountFreezeRequested(reason="보이스피싱·사기 피해: 지급정지 요청", **common)]
    return []


class OnReceived:
    """Classifies each fetched batch at once (`prepare`, before the transaction), then
    records and publishes each case inside the consumer's transaction (`__call__`)."""

    def __init__(self, outbox: Outbox, classifier: Classifier, repeat_window_days: int,
                 metrics: ClassifierMetrics = ClassifierMetrics()) -> None:
        self.outbox, self.classifier, self.metrics = outbox, classifier, metrics
        self.window = timedelta(days=repeat_window_days)
        self._batch: dict[str, Classification] = {}

    @staticmethod
    def _item(e: VocReceived) -> Item:
        # evidence offsets refer to this text, which travels on in VocClassified
        return Item(e.classification_text(), e.channel, e.affiliate_hint, e.kind_hint)

    def prepare(self, deliveries: Sequence[Delivery]) -> None:
        self._batch.clear()
        received = [d for d in deliveries if isinstance(d.msg, VocReceived)]
        started = time.perf_counter()
        results = self.classifier.classify_batch([self._item(d.msg) for d in received])  # type: ignore[arg-type]
        if self.metrics.latency and received:
            per_text = (time.perf_counter() - started) / len(received)
            for _ in received:
                self.metrics.latency.observe(per_text)
        self._batch = {d.env.id: c for d, c in zip(received, results)}

    async def __call__(self, conn: asyncpg.Connection, d: Delivery) -> None:
        e: VocReceived = d.msg  # type: ignore[assignment]
        text = e.classification_text()
        c = self._batch.pop(d.env.id, None)
        if c is None:  # retried on its own after a failed batch
            c = self.classifier.classify_batch([self._item(e)])[0]
        if e.customer_key and c.kind == "complaint":
            repeats = await conn.fetchval(sql.COUNT_REPEATS, e.customer_key, c.topic, e.received_at - self.window,
                                          e.received_at, e.case_id)
            c = raise_urgency(c, repeats)
        version = self.classifier.version
        inserted = await conn.fetchval(sql.INSERT_CLASSIFICATION, e.case_id, c.kind, c.topic, c.urgency,
                                       list(c.flags), c.affiliate, c.sentiment, c.model_dump(mode="json"), version,
                                       text, c.repeat_count)
        if inserted is None:
            return  # classified before under another event id; do not emit twice
        if e.customer_key and c.kind == "complaint":
            await conn.execute(sql.RECORD_CUSTOMER_TOPIC, e.customer_key, c.topic, e.received_at, e.case_id)
        await self.outbox.add(conn, VocClassified(
            case_id=e.case_id, tracking_code=e.tracking_code, channel=e.channel, text=text,
            affiliate_hint=e.affiliate_hint, consent=e.consent, received_at=e.received_at, classification=c,
            model_version=version, origin=e.origin, product=e.product, customer_ref=e.customer_ref))
        for alert in alerts_for(e.case_id, c):
            await self.outbox.add(conn, alert)
            if self.metrics.alerts:
                self.metrics.alerts.labels(alert.reason, "false").inc()
        for action in action_requests(e, c):
            await self.outbox.add(conn, action)
            if self.metrics.actions:
                self.metrics.actions.labels(type(action).__name__).inc()


def on_segment(outbox: Outbox, classifier: Classifier, metrics: ClassifierMetrics = ClassifierMetrics()):
    async def process(conn: asyncpg.Connection, d: Delivery) -> None:
        seg: CallSegmentReceived = d.msg  # type: ignore[assignment]
        if seg.speaker != "customer":  # an agent saying 금감원 is not the customer escalating
            return
        lex = classifier.lexicon()
        s = screen_segment(seg.text, lex)
        raised: list[AlertRaised] = []
        for reason, severity, message, evidence in s.alerts:
            if await conn.fetchval(sql.INSERT_LIVE_ALERT, seg.call_id, reason) is not None:
                raised.append(AlertRaised(case_id=seg.case_id, reason=reason, severity=severity,
                                          affiliate=seg.affiliate, message=message, evidence=evidence,
                                          call_id=seg.call_id))
        if s.angry:
            angry, abusive = await conn.fetchrow(sql.COUNT_ANGRY_TURN, seg.call_id, int(s.abusive))
            if angry >= lex.emotion.alert_after_turns and \
                    await conn.fetchval(sql.INSERT_LIVE_ALERT, seg.call_id, "emotion") is not None:
                raised.append(emotion_alert(seg.case_id, seg.call_id, seg.affiliate, angry, abusive, s.angry))
        for alert in raised:
            await outbox.add(conn, alert)
            if metrics.alerts:
                metrics.alerts.labels(alert.reason, "true").inc()

    return process


async def on_reclassified(conn: asyncpg.Connection, d: Delivery) -> None:
    e: CaseReclassified = d.msg  # type: ignore[assignment]
    await conn.execute(sql.INSERT_CORRECTION, d.env.id, e.case_id, e.kind, e.topic, e.previous_kind,
                       e.previous_topic, e.by, d.env.time)
