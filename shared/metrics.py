"""Prometheus metrics: FastStream's per-subscriber metrics plus the domain metrics each
service registers. Names follow Prometheus conventions (`moksori_` prefix, `_total`
for counters, base units). Gauges that need a query are read at scrape time (`Snapshot`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from fastapi import FastAPI, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


class Snapshot(Collector):
    """A gauge read at scrape time (a count in PostgreSQL, a consumer's pending messages in
    JetStream). Each read replaces all its series: a label value that is gone (a status no case
    has any more) leaves /metrics instead of holding its last count, and a read that failed
    leaves no series at all (`moksori_scrape_up` 0 says which), so a dashboard shows a gap and an
    alert on the value cannot fire, or stay quiet, on a number from before an outage."""

    def __init__(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.doc, self.labels = name, doc, labels
        self._series: dict[tuple[str, ...], float] = {}

    def replace(self, series: Mapping[tuple[str, ...], float]) -> None:
        """The gauge's series from this read: label values (in `labels` order) to value."""
        wrong = [k for k in series if len(k) != len(self.labels)]
        if wrong:
            raise ValueError(f"{self.name}: {wrong[0]!r} does not give one value per label {self.labels}")
        self._series = dict(series)

    def set(self, value: float) -> None:
        """The value of a gauge without labels."""
        self.replace({(): value})

    def drop(self) -> None:
        self._series = {}

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [GaugeMetricFamily(self.name, self.doc, labels=self.labels)]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.doc, labels=self.labels)
        for labels, value in self._series.items():
            family.add_metric(list(labels), value)
        return [family]


@dataclass(frozen=True)
class _Read:
    name: str
    fn: Callable[[], Awaitable[None]]
    feeds: tuple[Snapshot, ...]


class Metrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.service = service
        self._reads: list[_Read] = []
        self._failing: set[str] = set()
        self.scrape_up = Gauge("moksori_scrape_up", "1 if the last scrape could read the collector's gauges, "
                               "0 if it could not (they are then left out)", ["collector"], registry=self.registry)
        self.outbox_pending = self.snapshot("moksori_outbox_pending_events", "events committed but not yet published")
        self.dead_lettered = Counter("moksori_dead_lettered_messages_total", "messages sent to the DLQ",
                                     ["consumer"], registry=self.registry)
        self.processed = Counter("moksori_consumed_events_total", "events processed (duplicates excluded)",
                                 ["consumer"], registry=self.registry)
        self.duplicates = Counter("moksori_duplicate_events_total", "redelivered events skipped by the inbox",
                                  ["consumer"], registry=self.registry)

    def snapshot(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Snapshot:
        gauge = Snapshot(name, doc, labels)
        self.registry.register(gauge)
        return gauge

    def counter(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
        return Counter(name, doc, list(labels), registry=self.registry)

    def histogram(self, name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
        return Histogram(name, doc, buckets=buckets, registry=self.registry)

    def on_scrape(self, name: str, fn: Callable[[], Awaitable[None]], *feeds: Snapshot) -> None:
        """`fn` reads the `feeds` at every scrape; `name` labels its `moksori_scrape_up`."""
        self._reads.append(_Read(name, fn, feeds))

    async def read(self) -> bytes:
        """Every collector read, then the exposition. A scrape never fails because a dependency is
        down: that collector's gauges are left out and its `moksori_scrape_up` is 0."""
        for r in self._reads:
            try:
                await r.fn()
            except Exception as exc:
                for feed in r.feeds:
                    feed.drop()
                self.scrape_up.labels(r.name).set(0)
                if r.name not in self._failing:  # once per outage, not at every scrape
                    self._failing.add(r.name)
                    log.warning("metrics: %s could not be read (%r); its gauges are left out until it can",
                                r.name, exc)
            else:
                self.scrape_up.labels(r.name).set(1)
                if r.name in self._failing:
                    self._failing.discard(r.name)
                    log.info("metrics: %s can be read again", r.name)
        return generate_latest(self.registry)

    def mount(self, app: FastAPI) -> None:
        async def metrics() -> Response:
            return Response(await self.read(), media_type=CONTENT_TYPE_LATEST)

        app.add_api_route("/metrics", metrics, include_in_schema=False)
