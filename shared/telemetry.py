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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import structlog

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult

from shared.pii import mask_text

tracer = trace.get_tracer("moksori")


def _trace_ids(logger, method, event: dict) -> dict:
    """The current span's ids, so a log line joins its trace (when tracing is on)."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event["trace_id"] = f"{ctx.trace_id:032x}"
        event["span_id"] = f"{ctx.span_id:016x}"
    return event


def _mask_personal_data(logger, method, event: dict) -> dict:
    """Defence in depth: whatever a message or an exception carries (a validation error quoting
    its input, say), resident registration, card, account and phone numbers and e-mails are
    masked before the line is written."""
    for key in ("event", "exception"):
        if isinstance(event.get(key), str):
            event[key] = mask_text(event[key])
    return event


def setup_logging(service: str, level: str = "INFO", fmt: str | None = None) -> None:
    """One JSON object per line on stderr (structlog over the standard library, so FastStream's,
    uvicorn's and our own `logging` calls all come out the same): time, level, service, logger,
    message, the bound `case_id` / `ce_id` / `ce_type` of the event being processed, and the trace.
    `LOG_FORMAT=console` gives plain text for people at a terminal."""
    fmt = fmt or os.environ.get("LOG_FORMAT", "json")
    chain = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _trace_ids,
    ]
    renderer = (structlog.processors.JSONRenderer(ensure_ascii=False, default=str) if fmt == "json"
                else structlog.dev.ConsoleRenderer(colors=False))
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=chain,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            lambda _l, _m, e: {"service": service, **e},
            structlog.processors.format_exc_info,
            _mask_personal_data,
            renderer,
        ])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "faststream.access", "faststream.broker"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def log_context(**values: str | None) -> Iterator[None]:
    """Bind values (case_id, ce_id, …) to every log line written inside the block."""
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in values.items() if v}):
        yield


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
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    AsyncPGInstrumentor().instrument()
    HTTPXClientInstrumentor().instrument()  # outgoing HTTP calls carry the trace on (traceparent)
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
        structlog.contextvars.clear_contextvars()  # keep-alive connections reuse one task: nothing carries over
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        with tracer.start_as_current_span(f"{scope['method']} {scope['path']}", context=extract(headers),
                                          kind=trace.SpanKind.SERVER,
                                          attributes={"http.request.method": scope["method"],
                                                      "url.path": scope["path"]}):
            return await self.app(scope, receive, send)
