"""Chaos 2 and 3: nats-server, then PostgreSQL, restarted mid-stream on the same port
and the same store / data directory, once with a clean shutdown and once with kill -9.

JetStream keeps its streams and consumers across the restart; PostgreSQL recovers
committed work from its WAL. Services reconnect by themselves; intake keeps
accepting into its outbox while NATS is away, and answers 503 with Retry-After (the
channel retries) while PostgreSQL is away. Every accepted case is routed exactly once."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from tests.chaos.harness import Chaos, Load, alongside, chaos_stack, sized, verify
from tests.chaos.texts import voc_bodies

pytestmark = pytest.mark.chaos

DOWN_S = 2.0  # how long each server stays away


async def _outages(chaos: Chaos, load: Load, restart, at=(0.3, 0.65)) -> list[dict]:
    """At each fraction of the stream: stop the server (SIGTERM/SIGINT, then SIGKILL the
    next time), keep it away DOWN_S, start it again on the same port and store."""
    done = []
    for fraction, crash in zip(at, (False, True)):
        await load.reached(fraction)
        t = time.monotonic()
        await asyncio.to_thread(restart, crash)
        done.append({"at": fraction, "kill_9": crash, "down_s": round(time.monotonic() - t, 1)})
    return done


async def test_nats_server_restarts_mid_stream(chaos_db: str, tmp_path: Path):
    total = sized(2000, 10_000)
    started = time.monotonic()
    async with chaos_stack(tmp_path, database_url=chaos_db) as chaos:
        server = chaos.nats

        def restart(crash: bool) -> None:
            server.stop(signal.SIGKILL if crash else signal.SIGTERM)
            time.sleep(DOWN_S)
            server.start()  # same port, same store dir

        load = Load(chaos, voc_bodies(total, seed=2), concurrency=16, rate=100)
        done = await alongside(load, sized(240, 900), asyncio.create_task(_outages(chaos, load, restart)))
        await verify(chaos, load, scenario="2-nats-restart", started=started, outages=done)


async def test_postgres_restarts_mid_stream(tmp_path: Path):
    total = sized(2000, 10_000)
    started = time.monotonic()
    # a PostgreSQL of its own, durable, that it may restart. Intake trusts a looked-up API key for
    # 1 s instead of 30, so every outage also meets the key lookup (a 500 there went unseen until
    # a full-size run's outage happened to outlast the 30-s cache)
    async with chaos_stack(tmp_path, env={"API_KEY_CACHE_S": "1"}) as chaos:
        pg = chaos.pg
        assert pg is not None and pg.durable

        def restart(crash: bool) -> None:
            pg.stop(signal.SIGKILL if crash else signal.SIGINT)
            time.sleep(DOWN_S)
            pg.start()  # same port, same data dir; after kill -9 it recovers from the WAL

        load = Load(chaos, voc_bodies(total, seed=3), concurrency=16, rate=100)
        done = await alongside(load, sized(240, 900), asyncio.create_task(_outages(chaos, load, restart)))
        await verify(chaos, load, scenario="3-postgres-restart", started=started, outages=done)
        # while the database was away intake said so: 503 with Retry-After, never a 500 and a traceback
        assert load.retries.get("503", 0) > 0 and not load.retries.get("500"), dict(load.retries)
        assert "Exception in ASGI application" not in chaos.stack.log("intake").read_text()
