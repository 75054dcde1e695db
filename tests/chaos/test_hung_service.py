"""Chaos 7: a service that hangs (its process is alive but does nothing: SIGSTOP here; a
blocked event loop or a deadlock in production) while VOCs keep coming.

The supervisor probes /healthz once a second, as Kubernetes' liveness probe does, and
kills a service that stops answering; it is then restarted like a crashed one. What the
hung process had fetched but not acknowledged is redelivered. Every accepted case must
still be routed exactly once."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from tests.chaos.harness import Load, Supervisor, chaos_stack, sized, verify
from tests.chaos.texts import voc_bodies

pytestmark = pytest.mark.chaos


@pytest.mark.parametrize("victim", ["classifier"])
async def test_a_hung_service_is_killed_by_its_liveness_probe_and_nothing_is_lost(chaos_db: str, tmp_path: Path,
                                                                                  victim: str):
    total = sized(600, 3000)
    started = time.monotonic()
    async with chaos_stack(tmp_path, database_url=chaos_db) as chaos:
        supervisor = Supervisor(chaos, (victim,))
        stop = asyncio.Event()
        supervising = asyncio.create_task(supervisor.run(stop))
        load = Load(chaos, voc_bodies(total, seed=7), concurrency=8, rate=60)
        running = asyncio.create_task(load.run(timeout=sized(180, 600)))
        try:
            await load.reached(0.3)
            chaos.stack.procs[victim].send_signal(signal.SIGSTOP)  # alive, holding its fetched batch, silent
            await running
            await supervisor.all_ready()
            await verify(chaos, load, scenario="7-hung-service", started=started, victim=victim,
                         liveness_kills=supervisor.liveness_kills)
        finally:
            running.cancel()
            stop.set()
            await asyncio.gather(running, supervising, return_exceptions=True)
        assert [h["service"] for h in supervisor.hung][:1] == [victim], supervisor.hung
        assert supervisor.restarts[victim] >= 1
