"""One case is one trace: from the HTTP submission through intake, the classifier,
routing and feedback (each service writes its spans to a file; no collector needed)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services import devrun

pytestmark = pytest.mark.e2e


def spans(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


async def test_one_trace_spans_all_four_services(nats_url, database_url, tmp_path: Path):
    stack = devrun.Stack(var=tmp_path / "var", nats_url=nats_url,
                         database_url=database_url)
    files = {svc: tmp_path / f"{svc}.spans.jsonl" for svc in devrun.SERVICES}
    for svc in devrun.SERVICES:
        devrun.start_service(stack, svc, {"MOKSORI_TRACE_FILE": str(files[svc]), "LOG_LEVEL": "DEBUG"})
    try:
        await devrun.wait_ready(stack)
        await devrun.issue_dev_key(stack)
        # the channel's own client is traced too (httpx instrumentation): the case's trace starts there
        channel_spans = InMemorySpanExporter()
        channel = TracerProvider(resource=Resource.create({"service.name": "card-app-backend"}))
        channel.add_span_processor(SimpleSpanProcessor(channel_spans))
        async with httpx.AsyncClient(base_url=stack.url("intake"), headers={"X-Api-Key": stack.api_key}) as http:
            HTTPXClientInstrumentor.instrument_client(http, tracer_provider=channel)
            r = await http.post("/v1/voc", json={"channel": "app", "affiliate": "card",
                                                 "text": "카드 결제가 두 번 됐어요. 금감원에 민원 넣겠습니다"})
        case_id = r.json()["case_id"]
        want = {f"moksori-{svc}" for svc in devrun.SERVICES}
        for _ in range(100):
            mine = [s for f in files.values() for s in spans(f) if s["attributes"].get("moksori.case_id") == case_id]
            if {s["service"] for s in mine} >= want - {"moksori-intake"}:
                break
            await asyncio.sleep(0.1)
    finally:
        devrun.stop_services(stack)
    all_spans = [s for f in files.values() for s in spans(f)]
    mine = [s for s in all_spans if s["attributes"].get("moksori.case_id") == case_id]
    trace_ids = {s["trace_id"] for s in mine}
    assert len(trace_ids) == 1, trace_ids
    trace_id = trace_ids.pop()
    in_trace = [s for s in all_spans if s["trace_id"] == trace_id]
    assert {s["service"] for s in in_trace} == want  # HTTP → intake → classifier → routing → feedback
    (client_span,) = channel_spans.get_finished_spans()
    assert f"{client_span.context.trace_id:032x}" == trace_id  # one trace from the channel's request on
    server = next(s for s in in_trace if s["kind"] == "SERVER" and s["name"] == "POST /v1/voc")
    assert server["parent_id"] == f"{client_span.context.span_id:016x}"
    assert any(s["attributes"].get("db.system") == "postgresql" or s["attributes"].get("db.system.name")
               for s in in_trace)  # asyncpg spans
    assert all(s["attributes"].get("cloudevents.event_id") for s in mine)
    assert any(s["name"].endswith(" process") and s["attributes"].get("messaging.system") == "nats"
               and s["service"] == "moksori-routing" and "moksori.case_id" not in s["attributes"]
               for s in all_spans)  # FastStream's NatsTelemetryMiddleware spans, per pulled batch
    # the JSON log lines written while the case was processed carry its trace, case id and ce-id
    lines = [json.loads(line) for svc in ("classifier", "routing")
             for line in stack.log(svc).read_text().splitlines() if line.startswith("{")]
    joined = [line for line in lines if line.get("case_id") == case_id]
    assert {line["service"] for line in joined} == {"classifier", "routing"}
    assert all(line["trace_id"] == trace_id and line["ce_id"] for line in joined)
