"""The SLA sweeper fires exactly one warning and one escalation per deadline, across a
routing crash and restart. A test directory gives critical cases deadlines in seconds."""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter
from pathlib import Path

import httpx
import nats
import pytest

from services import devrun
from shared.directory import DEFAULT_DIRECTORY

pytestmark = pytest.mark.e2e


async def test_one_warning_and_one_escalation_per_deadline_across_a_restart(nats_url, database_url, tmp_path: Path):
    directory = tmp_path / "directory.yaml"
    directory.write_text(DEFAULT_DIRECTORY.read_text(encoding="utf-8").replace(
        "critical: {ack_hours: 1, resolve_business_days: 14}",
        "critical: {ack_hours: 0.001, resolve_hours: 0.0025}"), encoding="utf-8")  # 3.6 s to ack, 9 s to resolve
    stack = devrun.Stack(var=tmp_path / "var", nats_url=nats_url,
                         database_url=database_url)
    routing_env = {"DIRECTORY_FILE": str(directory), "SWEEP_EVERY_S": "0.2"}
    nc = await nats.connect(nats_url)
    seen: Counter = Counter()
    case_id = None

    async def on_msg(msg):
        data = json.loads(msg.data)
        if case_id and data.get("case_id") == case_id:
            key = data.get("reason") or f"escalated:{data.get('deadline')}"
            seen[key] += 1

    await nc.subscribe("voc.alert.>", cb=on_msg)
    await nc.subscribe("voc.escalation.>", cb=on_msg)
    for svc in ("intake", "classifier"):
        devrun.start_service(stack, svc)
    devrun.start_service(stack, "routing", routing_env)
    try:
        await devrun.wait_ready(stack, ("intake", "classifier", "routing"))
        await devrun.issue_dev_key(stack)
        async with httpx.AsyncClient(base_url=stack.url("intake"), headers={"X-Api-Key": stack.api_key}) as http:
            r = await http.post("/v1/voc", json={"channel": "app", "affiliate": "card",
                                                 "text": "방금 지갑이랑 신용카드를 잃어버렸어요 빨리 정지해 주세요"})
            case_id = r.json()["case_id"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 7.5  # after the warning (7.2 s) and the ack breach (3.6 s), before the resolve breach
        while loop.time() < deadline:
            await asyncio.sleep(0.1)
        stack.procs["routing"].send_signal(signal.SIGKILL)  # crash
        stack.procs["routing"].wait()
        devrun.start_service(stack, "routing", routing_env)
        await devrun.wait_ready(stack, ("routing",))
        await asyncio.sleep(6)  # past the resolve deadline, with a few sweeps after it
    finally:
        devrun.stop_services(stack)
        await nc.drain()
    assert seen["critical"] == 1
    assert seen["sla_warning"] == 1
    assert seen["escalated:acknowledge"] == 1 and seen["escalated:resolve"] == 1
    assert seen["sla_breach"] == 2, seen
