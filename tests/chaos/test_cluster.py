"""Chaos 4: a 3-node nats-server cluster with R3 streams.

First one node at a time is killed with -9 and restarted every few seconds while
VOCs stream through: nothing is lost or duplicated. Then two of the three nodes go
down: JetStream has no quorum, so publishing must fail loudly, not pretend. Intake
still answers 202 (the VOC is committed with its outbox row), but its relay cannot
publish: the pending rows in intake.outbox grow, none is deleted as published, and the relay
says so in its log. When the nodes come back everything drains and every case is
routed exactly once."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from shared.devstack import NatsCluster
from tests.chaos.harness import Chaos, Load, chaos_stack, sized, verify
from tests.chaos.texts import voc_bodies

pytestmark = pytest.mark.chaos


async def _roll_node_kills(chaos: Chaos, stop: asyncio.Event, rng: random.Random) -> list[float]:
    """kill -9 one node (in turn), leave it down 1-2 s, restart it on its port and store,
    wait until the whole cluster is healthy again, pause 1-3 s, next node."""
    cluster: NatsCluster = chaos.nats  # type: ignore[assignment]
    recoveries: list[float] = []
    i = 0
    while not stop.is_set() or i < cluster.size:  # every node at least once
        node = i % cluster.size
        await asyncio.to_thread(cluster.kill, node)
        await asyncio.sleep(rng.uniform(1.0, 2.0))
        t = time.monotonic()
        await asyncio.to_thread(cluster.start_node, node)
        await asyncio.to_thread(cluster.wait_healthy, None, 60.0)
        recoveries.append(time.monotonic() - t)
        i += 1
        try:
            await asyncio.wait_for(stop.wait(), rng.uniform(1.0, 3.0))
        except TimeoutError:
            pass
    return recoveries


async def _outbox(chaos: Chaos) -> int:
    """The rows in intake's outbox: each is an event not yet published (the relay deletes a row
    once JetStream has acked its publish)."""
    conn = await chaos.db()
    try:
        return await conn.fetchval("SELECT count(*) FROM intake.outbox")
    finally:
        await conn.close()


async def test_cluster_node_kills_then_no_quorum(chaos_db: str, tmp_path: Path):
    total = sized(1500, 30_000)
    during_outage = sized(200, 1000)
    rng = random.Random(804)
    started = time.monotonic()
    async with chaos_stack(tmp_path, database_url=chaos_db, cluster=True) as chaos:
        cluster: NatsCluster = chaos.nats  # type: ignore[assignment]
        assert len(chaos.stack.nats_url.split(",")) == 3 and chaos.env["NATS_REPLICAS"] == "3"

        # ---- one node at a time killed and restarted while the VOCs stream
        stop = asyncio.Event()
        killing = asyncio.create_task(_roll_node_kills(chaos, stop, rng))
        # paced so the stream spans a kill of every node (a node takes ~5 s to be current again)
        load = Load(chaos, voc_bodies(total, seed=4), concurrency=16, rate=sized(50, 100))
        try:
            await load.run(timeout=sized(240, 1800))
        finally:
            stop.set()
            recoveries = await killing
        await verify(chaos, load, scenario="4a-cluster-node-kills", started=started, node_kills=len(recoveries),
                     node_recovery_s_max=round(max(recoveries), 1))

        # ---- two of three down: no quorum. Accepted, kept, not published.
        phase = time.monotonic()
        relay_warnings_before = chaos.stack.log("intake").read_text(errors="replace").count("outbox relay waiting")
        pending_before = await _outbox(chaos)
        await asyncio.to_thread(cluster.kill, 1)
        await asyncio.to_thread(cluster.kill, 2)
        outage = Load(chaos, voc_bodies(during_outage, seed=40), concurrency=8)
        samples = []
        run = asyncio.create_task(outage.run(timeout=120))
        while not run.done():
            samples.append(await _outbox(chaos))
            await asyncio.sleep(0.5)
        await run
        # a relay publish waits for its ack up to the client's timeout (5 s): give it two rounds
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline:
            samples.append(await _outbox(chaos))
            await asyncio.sleep(1.0)
        pending = samples[-1]
        log = chaos.stack.log("intake").read_text(errors="replace")
        relay_warnings = log.count("outbox relay waiting") - relay_warnings_before
        # two rows per VOC: VocReceived and the receipt notice (CustomerNoticeRequested)
        sent_during = pending_before + 2 * len(outage.accepted) - pending
        no_quorum = {"accepted_during_outage": len(outage.accepted), "outbox_pending": pending,
                     "outbox_pending_before": pending_before, "outbox_sent_during": sent_during,
                     "pending_samples": samples, "relay_warnings": relay_warnings}
        print(f"no quorum: {no_quorum}")
        assert len(outage.accepted) == during_outage, "intake answers 202 without NATS"
        # every row there before the outage and every row written during it is still there
        assert sent_during == 0, f"nothing may be taken as published without quorum: {no_quorum}"
        assert samples == sorted(samples) and samples[-1] > samples[0], f"pending must grow: {no_quorum}"
        assert relay_warnings > 0, "the relay must say it cannot publish\n" + log[-3000:]

        # ---- the nodes come back: everything drains, routed exactly once
        await asyncio.to_thread(cluster.start_node, 1)
        await asyncio.to_thread(cluster.start_node, 2)
        await asyncio.to_thread(cluster.wait_healthy, None, 60.0)
        await verify(chaos, Load.merged(load, outage), scenario="4b-cluster-no-quorum", started=phase,
                     **{k: v for k, v in no_quorum.items() if k != "pending_samples"})
