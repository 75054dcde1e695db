"""Chaos 1: kill -9 intake, classifier and routing at random points of a VOC stream.

Each service runs its outbox relay in-process, so a kill also kills a relay that may
be mid-publish, and a consumer that may hold a fetched, unacknowledged batch. A
supervisor restarts whatever died; the channels retry with the same Idempotency-Key.
Every accepted case must be routed exactly once."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from tests.chaos.harness import Load, Supervisor, chaos_stack, kill_randomly, sized, verify
from tests.chaos.texts import voc_bodies

pytestmark = pytest.mark.chaos

TARGETS = ("intake", "classifier", "routing")


async def test_kill_9_services_at_random_points(chaos_db: str, tmp_path: Path):
    total = sized(2000, 10_000)
    rng = random.Random(801)
    started = time.monotonic()
    async with chaos_stack(tmp_path, database_url=chaos_db) as chaos:
        supervisor = Supervisor(chaos, TARGETS)
        stop_killing, stop_supervising = asyncio.Event(), asyncio.Event()
        supervising = asyncio.create_task(supervisor.run(stop_supervising))
        killing = asyncio.create_task(kill_randomly(chaos, supervisor, TARGETS, stop_killing, rng, every=(1.5, 3.5)))
        # paced, so the stream lasts long enough for several kills of each service
        load = Load(chaos, voc_bodies(total, seed=1), concurrency=16, rate=100)
        try:
            try:
                await load.run(timeout=sized(240, 900))
            finally:
                stop_killing.set()
                kills = await killing
            await supervisor.all_ready()
            assert set(kills) == set(TARGETS), f"every target should have been killed at least once: {kills}"
            # the supervisor (restarts, and liveness probes as Kubernetes has) keeps watching until the end
            await verify(chaos, load, scenario="1-kill-9-services", started=started, kills=dict(kills),
                         restarts=dict(supervisor.restarts),
                         restart_s_max=round(max(supervisor.restart_s, default=0), 1),
                         liveness_kills=supervisor.liveness_kills)
        finally:
            stop_supervising.set()
            await supervising
            for h in supervisor.hung:  # what a hung service was doing, for whoever reads the log
                print(f"\nliveness kill of {h['service']} at {h['at']}:\n{h['stacks']}", flush=True)
