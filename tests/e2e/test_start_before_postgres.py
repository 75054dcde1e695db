"""A service started while PostgreSQL is away (a node restart brings everything up at once, a
failover is in progress) waits for it, as it waits for NATS, and becomes ready once it is
there, instead of exiting into the orchestrator's restart back-off."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from services import devrun
from shared.devstack import PostgresServer, free_port

pytestmark = pytest.mark.e2e


async def test_intake_waits_for_postgres_and_then_serves(nats_url, tmp_path: Path):
    pg = PostgresServer(tmp_path / "pg", port=free_port(), durable=False)
    await asyncio.to_thread(pg.start)  # once, to create the cluster and its database; then away
    await asyncio.to_thread(pg.stop)
    stack = devrun.Stack(var=tmp_path / "var", nats_url=nats_url, database_url=pg.url)
    proc = devrun.start_service(stack, "intake")
    try:
        log = stack.log("intake")
        for _ in range(100):
            if "waiting for PostgreSQL" in log.read_text(errors="replace"):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)
        assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
        assert "waiting for PostgreSQL" in log.read_text(errors="replace")
        await asyncio.to_thread(pg.start)
        await devrun.wait_ready(stack, ("intake",), timeout=60)
        await devrun.issue_dev_key(stack)
        async with httpx.AsyncClient(base_url=stack.url("intake"), timeout=10,
                                     headers={"X-Api-Key": stack.api_key}) as http:
            r = await http.post("/v1/voc", json={"channel": "app", "text": "앱 로그인이 계속 안 돼요 ㅠㅠ 확인 부탁드려요"})
        assert r.status_code == 202, r.text
    finally:
        devrun.stop_services(stack)
        await asyncio.to_thread(pg.stop)
