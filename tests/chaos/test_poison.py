"""Chaos 5: 100 poison messages on voc.received while healthy VOCs flow.

Undecodable JSON, a wrong or unknown ce-type, missing CloudEvents headers, bytes that
are not UTF-8: the classifier dead-letters each at once to voc.dlq.classifier and
raises one `dead_letter` alert for it on voc.alert.group.dead_letter. The healthy
VOCs are all routed exactly once, and stay fast: accept→routed p99 ≤ 100 ms at a
modest rate (accept = when the client got its 202; routed = the CaseRouted message's
JetStream timestamp; same host, same clock), measured after a short warm-up."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from pathlib import Path

import pytest

from tests.chaos.harness import (Chaos, Load, Routed, alongside, chaos_stack, read_stream, sized, verify,
                                 wait_quiet)
from tests.chaos.texts import voc_bodies

pytestmark = pytest.mark.chaos

POISON = 100
WARM_UP = 20  # VOCs routed before the measured stream
RATE = 20.0  # healthy VOCs per second
P99_BUDGET_S = 0.100
VOC_RECEIVED = "kr.moksori.voc.received.v1"


def _ce(case: str, ce_type: str = VOC_RECEIVED) -> dict[str, str]:
    return {"ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-type": ce_type, "ce-source": "chaos/poison",
            "ce-time": "2026-11-20T10:15:00+09:00", "ce-subject": case, "content-type": "application/json"}


def poison(i: int) -> tuple[str, bytes, dict[str, str]]:
    """(case id it claims, body, headers): four kinds in turn. Every one names a case id in
    ce-subject so its dead letter and its alert can be matched to it."""
    case = str(uuid.uuid4())
    kind = i % 4
    if kind == 0:  # truncated JSON
        body, headers = f'{{"case_id": "{case}", "text": "앱 이체'.encode(), _ce(case)
    elif kind == 1:  # a well-formed event of a type the classifier does not take
        body, headers = json.dumps({"case_id": case}).encode(), _ce(case, "kr.moksori.case.routed.v1")
    elif kind == 2:  # an unknown type, and no CloudEvents id
        headers = _ce(case, "com.example.mystery.v9")
        del headers["ce-id"]
        body = b'{"hello": "world"}'
    else:  # not UTF-8, not JSON
        body, headers = bytes(range(256)) * 4, _ce(case)
    headers["Nats-Msg-Id"] = f"poison-{case}"
    return case, body, headers


async def _publish_poison(chaos: Chaos, load: Load, spread_s: float) -> list[str]:
    nc = await chaos.nc()
    js = nc.jetstream()
    cases = []
    try:
        await load.reached(0.05)
        for i in range(POISON):
            case, body, headers = poison(i)
            await js.publish("voc.received", body, headers=headers)
            cases.append(case)
            await asyncio.sleep(spread_s / POISON)
    finally:
        await nc.close()
    return cases


async def test_poison_messages_are_dead_lettered_and_alerted_while_healthy_traffic_flows(
        chaos_db: str, tmp_path: Path):
    healthy = sized(400, 2000)
    started = time.monotonic()
    async with chaos_stack(tmp_path, database_url=chaos_db) as chaos:
        # warm-up, not measured: the first VOCs after a start pay for lazy loading (the classifier's
        # model and tokenizer, connection pools) and take up to ~1 s
        warm = Load(chaos, voc_bodies(WARM_UP, seed=50), concurrency=4)
        await warm.run(timeout=60)
        await wait_quiet(chaos, warm.accepted_ids(), timeout=60)
        load = Load(chaos, voc_bodies(healthy, seed=5), concurrency=8, rate=RATE)
        poisoned = set(await alongside(load, healthy / RATE + 120, asyncio.create_task(
            _publish_poison(chaos, load, spread_s=0.8 * healthy / RATE))))
        assert len(poisoned) == POISON

        # poison: every one on the DLQ and one dead_letter alert each (the DLQ publish comes first)
        nc = await chaos.nc()
        try:
            js = nc.jetstream()
            deadline = time.monotonic() + 60
            while True:
                dlq = await read_stream(js, "VOC_DLQ", "voc.dlq.classifier")
                alerts = await read_stream(js, "VOC_ALERTS", "voc.alert.group.dead_letter")
                dlq_cases = [m.headers.get("ce-subject") for m in dlq]
                alert_cases = [json.loads(m.data)["case_id"] for m in alerts]
                if (len(dlq_cases) >= POISON and len(alert_cases) >= POISON) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            routed = await Routed.read(nc)
        finally:
            await nc.close()

        by_case = {s.case_id: routed.at[s.case_id] - s.accepted_at for s in load.items if s.case_id in routed.at}
        latencies = sorted(by_case.values())
        t0 = min(s.accepted_at for s in load.items)
        slowest = sorted(((round(s.accepted_at - t0, 2), round(by_case[s.case_id] * 1000)) for s in load.items
                          if s.case_id in by_case), key=lambda x: -x[1])[:8]
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        latency = {"p50_ms": round(q[49] * 1000, 1), "p95_ms": round(q[94] * 1000, 1),
                   "p99_ms": round(q[98] * 1000, 1), "max_ms": round(latencies[-1] * 1000, 1)}
        poison_counts = {"poison": POISON, "dlq": len(dlq_cases), "dlq_matched": len(set(dlq_cases) & poisoned),
                         "alerts": len(alert_cases), "alerts_matched": len(set(alert_cases) & poisoned)}
        await verify(chaos, Load.merged(warm, load), scenario="5-poison", started=started, rate_per_s=RATE,
                     **poison_counts, **latency, slowest_at_s_ms=slowest)
        reasons = {m.headers.get("moksori-dlq-reason", "")[:40] for m in dlq}
        assert sorted(dlq_cases) == sorted(poisoned), f"every poison message dead-lettered once: {poison_counts}"
        assert all(m.headers.get("moksori-dlq-reason", "").startswith("malformed") for m in dlq), reasons
        assert sorted(alert_cases) == sorted(poisoned), (
            f"one dead_letter alert per poison message on voc.alert.group.dead_letter: {poison_counts}")
        # the classifier and routing pull with a 10 ms batch wait (shared/bus.py): on a quiet 2-core
        # machine p99 is 33-38 ms here, so the 100 ms budget leaves room for a busy CI runner
        assert latency["p99_ms"] <= P99_BUDGET_S * 1000, (
            f"healthy accept→routed p99 {latency['p99_ms']} ms is over the {P99_BUDGET_S * 1000:.0f} ms budget "
            f"at {RATE:.0f}/s: {latency}")
