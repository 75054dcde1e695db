"""Logging and tracing, set up once per process.

Tracing is off unless configured: the standard OTEL_* variables switch on the OTLP
exporter (OTEL_EXPORTER_OTLP_ENDPOINT), and MOKSORI_TRACE_FILE writes spans as JSON
lines (tests and local debugging). Trace context travels in the W3C `traceparent`
header of every CloudEvent, written into the outbox with the event, so one case is
one trace from the HTTP request through every service that handles it."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Sequence

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult

tracer = trace.get_tracer("moksori")


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "faststream.access", "faststream.broker"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class JsonLinesExporter(SpanExporter):
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for s in spans:
            lines.append(json.dumps({
                "trace_id": f"{s.context.trace_id:032x}", "span_id": f"{s.context.span_id:016x}",
                "parent_id": f"{s.parent.span_id:016x}" if s.parent else None, "name": s.name,
                "service": s.resource.attributes.get("service.name"), "kind": s.kind.name,
                "attributes": dict(s.attributes or {}),
            }, ensure_ascii=False, default=str))
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def setup_tracing(service: str) -> TracerProvider | None:
    otlp = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    path = os.environ.get("MOKSORI_TRACE_FILE")
    if not otlp and not path:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": f"moksori-{service}"}))
    if otlp:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if path:
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(path)))
    trace.set_tracer_provider(provider)
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    AsyncPGInstrumentor().instrument()
    return provider


def inject(headers: dict[str, str]) -> dict[str, str]:
    propagate.inject(headers)
    return headers


def extract(headers: dict[str, str] | None):
    return propagate.extract(headers or {})


class TraceRequests:
    """ASGI middleware: one server span per HTTP request, continuing the caller's trace."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in ("/healthz", "/readyz", "/metrics"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        with tracer.start_as_current_span(f"{scope['method']} {scope['path']}", context=extract(headers),
                                          kind=trace.SpanKind.SERVER,
                                          attributes={"http.request.method": scope["method"],
                                                      "url.path": scope["path"]}):
            return await self.app(scope, receive, send)
