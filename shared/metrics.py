"""Prometheus metrics: FastStream's per-subscriber metrics plus the domain metrics each
service registers. Names follow Prometheus conventions (`moksori_` prefix, `_total`
for counters, base units). Gauges that need a query are collected at scrape time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.service = service
        self._scrape: list[Callable[[], Awaitable[None]]] = []
        self.outbox_pending = Gauge("moksori_outbox_pending_events", "events committed but not yet published",
                                    registry=self.registry)
        self.dead_lettered = Counter("moksori_dead_lettered_messages_total", "messages sent to the DLQ",
                                     ["consumer"], registry=self.registry)
        self.processed = Counter("moksori_consumed_events_total", "events processed (duplicates excluded)",
                                 ["consumer"], registry=self.registry)
        self.duplicates = Counter("moksori_duplicate_events_total", "redelivered events skipped by the inbox",
                                  ["consumer"], registry=self.registry)

    def gauge(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, list(labels), registry=self.registry)

    def counter(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
        return Counter(name, doc, list(labels), registry=self.registry)

    def histogram(self, name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
        return Histogram(name, doc, buckets=buckets, registry=self.registry)

    def on_scrape(self, fn: Callable[[], Awaitable[None]]) -> None:
        self._scrape.append(fn)

    def mount(self, app: FastAPI) -> None:
        async def metrics() -> Response:
            for fn in self._scrape:
                try:
                    await fn()
                except Exception:  # a scrape must not fail because a dependency is down
                    pass
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        app.add_api_route("/metrics", metrics, include_in_schema=False)
