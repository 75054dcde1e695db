"""Logs are one JSON object per line, carry the trace and the case being processed, and never
carry raw personal data, whatever a message or an exception quotes."""

from __future__ import annotations

import io
import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider

from shared.telemetry import log_context, setup_logging


@pytest.fixture
def captured():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging("intake", "INFO")
    buf = io.StringIO()
    root.handlers[0].stream = buf  # the handler setup_logging installed, writing to a buffer

    def lines() -> list[dict]:
        return [json.loads(line) for line in buf.getvalue().splitlines()]

    yield lines
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


def test_a_line_is_json_with_service_level_logger_and_bound_case(captured):
    log = logging.getLogger("moksori.test")
    with log_context(case_id="3f1c0a52-8f7e-4c55-9d1e-2b8f4f3a9c10", ce_id="evt-1", ce_type=None):
        log.warning("분류 재시도 %d회", 2, extra={"consumer": "VOC_INTAKE:classifier"})
    log.info("after the block")
    first, second = captured()
    assert first["service"] == "intake" and first["level"] == "warning" and first["logger"] == "moksori.test"
    assert first["event"] == "분류 재시도 2회" and first["consumer"] == "VOC_INTAKE:classifier"
    assert first["case_id"] == "3f1c0a52-8f7e-4c55-9d1e-2b8f4f3a9c10" and first["ce_id"] == "evt-1"
    assert "ce_type" not in first and "timestamp" in first
    assert "case_id" not in second  # nothing leaks past the block


def test_trace_ids_join_the_line_to_its_span(captured):
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("classify") as span:
        logging.getLogger("moksori.test").info("classified")
    (line,) = captured()
    assert line["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert line["span_id"] == f"{span.get_span_context().span_id:016x}"


def test_personal_data_in_a_message_or_an_exception_is_masked(captured):
    log = logging.getLogger("moksori.test")
    log.error("invalid input: 연락처 010-3456-7890, 메일 gildong.hong@example.co.kr")
    try:
        raise ValueError("text: 주민번호 850315-1234567 카드 4111-1111-1111-1111 는 허용되지 않습니다")
    except ValueError:
        log.exception("partner payload rejected")
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in captured())
    for raw in ("010-3456-7890", "gildong.hong@example.co.kr", "850315-1234567", "4111-1111-1111-1111"):
        assert raw not in text
    assert "010-3456-****" in text and "Traceback" in text  # masked, not dropped
