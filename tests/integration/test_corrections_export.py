"""`moksori classify corrections` against real PostgreSQL: a corrected case becomes a training example with the
team's topic and kind and the text's own urgency. A repeat complaint's raise comes from the customer's history,
which the text does not show: before, the raised urgency was exported and the urgency head learned it from text."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.classifier.adapters.repository import CORRECTED_EXAMPLES
from services.classifier.domain.classify import raise_urgency
from shared.events import Classification

pytestmark = pytest.mark.integration

SERVICE = "classifier"  # the `conn` fixture (conftest.py) applies its migrations

STORE = """
INSERT INTO classifier.classifications (case_id, kind, topic, urgency, flags, affiliate, sentiment, result,
                                        model_version, text, repeat_count)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'test', $9, $10)"""
CORRECT = """
INSERT INTO classifier.corrections (event_id, case_id, kind, topic, previous_kind, previous_topic, corrected_by, at)
VALUES ($1, $2, 'complaint', 'digital_service', 'complaint', 'other', '카드 VOC팀 김민지', $3)"""


async def test_a_corrected_repeat_complaint_is_exported_with_the_urgency_its_text_has(conn):
    plain = Classification(kind="complaint", topic="other", urgency="normal", affiliate="card",
                           sentiment="negative", confidence={"kind": 0.8})
    cases = {uuid.uuid4(): (raise_urgency(plain, 2), "앱 로그인이 또 안 돼요. 벌써 두 번째 문의입니다"),
             uuid.uuid4(): (plain, "앱 로그인이 안 돼요")}
    for case_id, (c, text) in cases.items():
        await conn.execute(STORE, case_id, c.kind, c.topic, c.urgency, list(c.flags), c.affiliate, c.sentiment,
                           c.model_dump(mode="json"), text, c.repeat_count)
        await conn.execute(CORRECT, f"evt-{case_id}", case_id, datetime(2026, 11, 25, tzinfo=UTC))
    stored = dict(await conn.fetch("SELECT case_id, urgency FROM classifier.classifications"))
    assert sorted(stored.values()) == ["high", "normal"]  # the raise is what routing and the reports saw
    exported = {r["case_id"]: (r["urgency"], r["topic"]) for r in
                await conn.fetch(CORRECTED_EXAMPLES, datetime(2026, 1, 1, tzinfo=UTC))}
    assert exported == {case_id: ("normal", "digital_service") for case_id in cases}
