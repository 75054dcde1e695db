"""Every service exposes Prometheus metrics: FastStream's and the domain's."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.e2e


async def test_metrics_endpoints(system, http):
    await http["intake"].post("/v1/voc", json={"channel": "app", "affiliate": "card",
                                               "text": "카드를 잃어버렸어요. 금감원에 민원 넣기 전에 빨리 정지해 주세요"})
    want = {
        "intake": ["moksori_outbox_pending_events", "moksori_consumed_events_total"],
        "classifier": ["moksori_classification_seconds_bucket", 'moksori_alerts_raised_total{live="false",reason="critical"}',
                       "faststream_received_messages_total"],
        "routing": ['moksori_team_queue_pending_cases{affiliate="card",team="fraud_response"}', "moksori_dlq_messages",
                    "moksori_dlq_fill_ratio", 'moksori_cases_by_status{status="routed"}'],
        "feedback": ["moksori_outbox_pending_events"],
    }
    for svc, names in want.items():
        for _ in range(50):
            text = (await http[svc].get("/metrics")).text
            if all(n in text for n in names):
                break
            await asyncio.sleep(0.1)
        missing = [n for n in names if n not in text]
        assert not missing, f"{svc} lacks {missing}"
