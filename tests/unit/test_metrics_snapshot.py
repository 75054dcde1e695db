"""Gauges read at scrape time (shared/metrics.py): never the last value from before an outage."""

from __future__ import annotations

import pytest

from shared.metrics import Metrics


def lines(text: bytes, name: str) -> list[str]:
    return [line for line in text.decode().splitlines() if line.startswith(name)]


async def test_a_label_value_that_is_gone_leaves_metrics_instead_of_keeping_its_last_count():
    m = Metrics("routing")
    by_status = m.snapshot("moksori_cases_by_status", "cases by status", ("status",))
    counts = [{"routed": 3, "acknowledged": 1}, {"acknowledged": 4}]

    async def read() -> None:
        by_status.replace({(s,): n for s, n in counts.pop(0).items()})

    m.on_scrape("cases", read, by_status)
    assert lines(await m.read(), "moksori_cases_by_status") == [
        'moksori_cases_by_status{status="routed"} 3.0', 'moksori_cases_by_status{status="acknowledged"} 1.0']
    assert lines(await m.read(), "moksori_cases_by_status") == ['moksori_cases_by_status{status="acknowledged"} 4.0']


async def test_a_collector_that_cannot_be_read_leaves_its_gauges_out_and_says_so(caplog):
    m = Metrics("routing")
    queues = m.snapshot("moksori_team_queue_pending_cases", "pending", ("affiliate", "team"))
    dlq = m.snapshot("moksori_dlq_messages", "dead letters")
    up = {"nats": True}

    async def read_queues() -> None:
        if not up["nats"]:
            raise ConnectionError("nats: no servers available for connection")
        queues.replace({("card", "fraud_response"): 7})
        dlq.set(2)

    async def read_outbox() -> None:
        m.outbox_pending.set(5)

    m.on_scrape("team_queues", read_queues, queues, dlq)
    m.on_scrape("outbox", read_outbox, m.outbox_pending)
    text = await m.read()
    assert lines(text, "moksori_team_queue_pending_cases") == [
        'moksori_team_queue_pending_cases{affiliate="card",team="fraud_response"} 7.0']
    assert lines(text, "moksori_scrape_up") == ['moksori_scrape_up{collector="team_queues"} 1.0',
                                                'moksori_scrape_up{collector="outbox"} 1.0']
    up["nats"] = False
    for _ in range(3):
        text = await m.read()
    assert lines(text, "moksori_team_queue_pending_cases") == [] and lines(text, "moksori_dlq_messages") == []
    assert lines(text, "moksori_outbox_pending_events") == ["moksori_outbox_pending_events 5.0"]
    assert lines(text, "moksori_scrape_up") == ['moksori_scrape_up{collector="team_queues"} 0.0',
                                                'moksori_scrape_up{collector="outbox"} 1.0']
    assert [r.getMessage() for r in caplog.records if "could not be read" in r.getMessage()] == [
        "metrics: team_queues could not be read (ConnectionError('nats: no servers available for connection')); "
        "its gauges are left out until it can"]  # once per outage, not at every scrape
    up["nats"] = True
    assert "moksori_dlq_messages 2.0" in lines(await m.read(), "moksori_dlq_messages")


def test_a_series_must_give_one_value_per_label():
    m = Metrics("routing")
    g = m.snapshot("moksori_team_queue_pending_cases", "pending", ("affiliate", "team"))
    with pytest.raises(ValueError, match="one value per label"):
        g.replace({("card",): 1})
