"""Accepted means durable: intake keeps accepting while NATS is away, and the relay
catches up when it returns."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from bench.common import stream_messages as stream_count
from services import devrun
from shared.devstack import NatsServer, free_port
from tests.streams import stream_header

pytestmark = pytest.mark.e2e


async def test_intake_accepts_with_nats_down_from_start_and_mid_stream(database_url, tmp_path: Path):
    server = NatsServer(tmp_path / "nats", port=free_port(), name="outage")  # not started yet
    stack = devrun.Stack(var=tmp_path / "var", nats_url=server.url,
                         database_url=database_url)
    devrun.start_service(stack, "intake")
    accepted: list[str] = []
    try:
        await devrun.wait_ready(stack, ("intake",))  # ready without NATS
        await devrun.issue_dev_key(stack)
        async with httpx.AsyncClient(base_url=stack.url("intake"), timeout=10,
                                     headers={"X-Api-Key": stack.api_key}) as http:
            async def submit(i: int) -> None:
                r = await http.post("/v1/voc", json={"channel": "app", "text": f"앱 이체 오류 {i}번째 시도 실패했어요"})
                assert r.status_code == 202, r.text
                accepted.append(r.json()["case_id"])

            for i in range(10):
                await submit(i)
            server.start()
            await _eventually(lambda: stream_count(server.url, "VOC_INTAKE"), 10)
            server.stop()  # NATS goes away mid-stream for 10 s; a client keeps submitting
            loop = asyncio.get_running_loop()
            until, i = loop.time() + 10, 10
            while loop.time() < until:
                await submit(i)
                i += 1
                await asyncio.sleep(0.05)
            server.start()
            await _eventually(lambda: stream_count(server.url, "VOC_INTAKE"), len(accepted), timeout=30)
            delivered = await stream_header(server.url, "VOC_INTAKE", "ce-subject")
    finally:
        devrun.stop_services(stack)
        server.stop()
    assert len(accepted) > 100
    assert set(accepted) - set(delivered) == set() and set(delivered) - set(accepted) == set()
    assert len(delivered) == len(set(delivered))


async def _eventually(get, want, timeout=15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    got = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            got = await get()
        except Exception:
            got = None
        if got == want:
            return
        await asyncio.sleep(0.2)
    assert got == want


async def test_routing_and_feedback_serve_their_http_while_nats_is_away(database_url, tmp_path: Path):
    """A team can still work its cases, and a customer open the survey page, while NATS is away: both
    write through the outbox, so readiness does not wait for NATS (it used to: 503 from the Service)."""
    import uuid

    server = NatsServer(tmp_path / "nats", port=free_port(), name="away")  # never started
    stack = devrun.Stack(var=tmp_path / "var", nats_url=server.url, database_url=database_url)
    for svc in ("routing", "feedback"):
        devrun.start_service(stack, svc)
    try:
        await devrun.wait_ready(stack, ("routing", "feedback"))
        group = {"X-Api-Key": devrun.team_keys(stack.var)["group"], "X-Staff-Id": "O2026001"}
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.post(f"{stack.url('routing')}/v1/cases/{uuid.uuid4()}/acknowledge", headers=group,
                                json={"handler_name": "김민지", "handler_contact": "02-1588-0000"})
            assert r.status_code == 404 and "no case" in r.json()["error"]  # answered from PostgreSQL
            page = await http.get(f"{stack.url('feedback')}/s/not-a-token")
            assert page.status_code == 400 and "text/html" in page.headers["content-type"]
    finally:
        devrun.stop_services(stack)
