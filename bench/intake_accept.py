"""Intake accept benchmark: HTTP POST /v1/voc through to the outbox published on JetStream.

Runs against its own embedded NATS and PostgreSQL, and prints, in the same run:
- intake: sustained accepted VOC/s (closed loop, C concurrent clients) measured to
  the moment the last event is in the stream, and accept latency p50/p99 at a
  fixed open-loop rate;
- baseline: raw asyncpg + nats-py doing the same durable work without HTTP,
  FastAPI or the service (insert case + outbox row in one transaction; a relay
  publishes with Nats-Msg-Id and marks rows sent).

    .venv/bin/python -m bench.intake_accept [--seconds 10] [--rate 500] [--clients 32]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
import uuid

import asyncpg
import nats

from bench.common import embedded_stack, stream_messages
from bench import httpload
from bench.httpload import Conn

from services import devrun  # noqa: E402

TEXT = "앱에서 이체 버튼을 눌러도 반응이 없어요. 벌써 세 번째입니다. 연락처 010-1234-5678"


async def stream_count(url: str) -> int:
    return await stream_messages(url, "VOC_INTAKE")


async def wait_published(url: str, want: int, timeout: float = 120) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if await stream_count(url) >= want:
            return time.perf_counter()
        await asyncio.sleep(0.02)
    raise TimeoutError(f"only {await stream_count(url)} of {want} published")


async def closed_loop(url: str, key: str, clients: int, seconds: float) -> tuple[int, float]:
    sent = 0
    conns = [await Conn(url, {"X-Api-Key": key}).open() for _ in range(clients)]
    start = time.perf_counter()
    deadline = start + seconds

    async def worker(conn: Conn) -> None:
        nonlocal sent
        while time.perf_counter() < deadline:
            status, body = await conn.post_json("/v1/voc", {"channel": "app", "text": TEXT})
            assert status == 202, body
            sent += 1

    await asyncio.gather(*(worker(c) for c in conns))
    for c in conns:
        await c.close()
    return sent, start


async def open_loop(url: str, key: str, rate: float, seconds: float) -> list[float]:
    answers = await httpload.open_loop(url, {"X-Api-Key": key}, "/v1/voc", lambda _: {"channel": "app", "text": TEXT},
                                       rate, seconds)
    assert all(a.status == 202 for a in answers), [a.payload for a in answers if a.status != 202][:3]
    return [a.answered - a.scheduled for a in answers]  # includes any wait for a connection


BASELINE_DDL = """
CREATE TABLE IF NOT EXISTS bench.cases (id uuid PRIMARY KEY, text text NOT NULL, received_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS bench.outbox (id bigserial PRIMARY KEY, event_id text UNIQUE, body bytea NOT NULL,
                                          sent_at timestamptz);
CREATE INDEX IF NOT EXISTS bench_outbox_pending ON bench.outbox (id) WHERE sent_at IS NULL;
"""


async def baseline(pg_url: str, nats_url: str, clients: int, seconds: float) -> float:
    """The same durable work with the raw libraries: one transaction per VOC, a relay publishing."""
    pool = await asyncpg.create_pool(pg_url, min_size=clients, max_size=clients)
    await pool.execute("CREATE SCHEMA IF NOT EXISTS bench")
    await pool.execute(BASELINE_DDL)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(name="BENCH", subjects=["bench.received"])
    already = (await js.stream_info("BENCH")).state.messages
    stop = asyncio.Event()

    async def relay() -> None:
        while not stop.is_set() or await pool.fetchval("SELECT count(*) FROM bench.outbox WHERE sent_at IS NULL"):
            async with pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch("SELECT id, event_id, body FROM bench.outbox WHERE sent_at IS NULL "
                                        "ORDER BY id LIMIT 500 FOR UPDATE SKIP LOCKED")
                if rows:
                    await asyncio.gather(*(js.publish("bench.received", bytes(r["body"]),
                                                      headers={"Nats-Msg-Id": r["event_id"]}) for r in rows))
                    await conn.execute("UPDATE bench.outbox SET sent_at = now() WHERE id = ANY($1::bigint[])",
                                       [r["id"] for r in rows])
            if not rows:
                await asyncio.sleep(0.005)

    sent = 0
    start = time.perf_counter()
    deadline = start + seconds

    async def worker() -> None:
        nonlocal sent
        while time.perf_counter() < deadline:
            case_id = uuid.uuid4()
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("INSERT INTO bench.cases VALUES ($1, $2, now())", case_id, TEXT)
                await conn.execute("INSERT INTO bench.outbox (event_id, body) VALUES ($1, $2)", str(case_id),
                                   json.dumps({"case_id": str(case_id), "text": TEXT}).encode())
            sent += 1

    relay_task = asyncio.create_task(relay())
    await asyncio.gather(*(worker() for _ in range(clients - 2)))
    stop.set()
    await relay_task
    elapsed = time.perf_counter() - start
    published = (await js.stream_info("BENCH")).state.messages - already
    await nc.close()
    await pool.close()
    assert published == sent, (published, sent)
    return sent / elapsed


async def main(args: argparse.Namespace) -> None:
    with embedded_stack() as stack:
        await baseline(stack.database_url, stack.nats_url, args.clients, 2)  # warm-up, not measured
        base_rate = await baseline(stack.database_url, stack.nats_url, args.clients, args.seconds)
        devrun.start_service(stack, "intake", {"LOG_LEVEL": "WARNING", "DB_POOL_SIZE": "16",
                                               "HTTP_WORKERS": str(args.workers)})
        await devrun.wait_ready(stack, ("intake",))
        await asyncio.sleep(1)
        key = await devrun.issue_dev_key(stack, rate_per_s=100_000.0)
        url = stack.url("intake")
        # warm-up: pools grow to size, statements get prepared, caches fill; not measured
        await open_loop(url, key, args.rate, 3)
        gc.disable()  # the load client's own collections must not show up as server latency
        sent, start = await closed_loop(url, key, args.clients, args.seconds)
        answered = time.perf_counter()
        done = await wait_published(stack.nats_url, sent)
        sustained = sent / (done - start)
        before = await stream_count(stack.nats_url)
        lat = sorted(await open_loop(url, key, args.rate, args.seconds))
        await wait_published(stack.nats_url, before + len(lat))
        gc.enable()
        p50, p99 = statistics.median(lat) * 1000, lat[int(len(lat) * 0.99) - 1] * 1000
        print(json.dumps({
            "intake_sustained_accept_per_s": round(sustained),
            "intake_answered_per_s": round(sent / (answered - start)),
            "relay_lag_after_last_answer_s": round(done - answered, 2),
            "intake_accept_latency_ms_at_rate": {"rate": args.rate, "p50": round(p50, 1), "p99": round(p99, 1)},
            "baseline_raw_asyncpg_natspy_per_s": round(base_rate),
            "clients": args.clients, "seconds": args.seconds, "intake_workers": args.workers,
        }, indent=2))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=500.0, help="open-loop rate for the latency run")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--workers", type=int, default=2, help="intake HTTP worker processes")
    a = p.parse_args()
    if a.seconds <= 0 or a.rate <= 0 or a.clients < 3:
        p.error("--seconds and --rate must be positive, --clients at least 3")
    asyncio.run(main(a))
