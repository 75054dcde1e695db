"""Once intake answered 2xx, the case survives kill -9: 2,000 VOCs from clients that
retry with the same Idempotency-Key while intake (and its relay) is killed five
times at random points of the stream. Every 2xx has exactly one case row and
exactly one JetStream message."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from services import devrun
from shared.devstack import NatsServer
from tests.streams import stream_header

pytestmark = pytest.mark.e2e

TOTAL = 2000
KILLS = 5
TEXTS = ["앱 이체 버튼 눌러도 반응이 없어요", "카드 연회비 이중 청구 환불 요청합니다", "지점 대기 시간이 너무 길어요 ㅠㅠ",
         "보험금 청구 서류 접수 확인 부탁드립니다", "주식 매도 주문이 체결이 안 돼요"]


async def test_kill_9_intake_during_a_stream_of_2000_vocs(database_url, tmp_path: Path):
    server = NatsServer(tmp_path / "nats", name="crash").start()
    stack = devrun.Stack(var=tmp_path / "var", nats_url=server.url,
                         database_url=database_url)
    devrun.start_service(stack, "intake")
    await devrun.wait_ready(stack, ("intake",))
    await devrun.issue_dev_key(stack)
    accepted: dict[str, str] = {}
    rng = random.Random(7)

    async def client(worker: int, keys: list[str]) -> None:
        async with httpx.AsyncClient(base_url=stack.url("intake"), timeout=5,
                                     headers={"X-Api-Key": stack.api_key}) as http:
            for key in keys:
                body = {"channel": "app", "text": rng.choice(TEXTS) + f" ({key[:8]})"}  # a retry resends the same body
                while True:  # a real channel retries until it gets an answer
                    try:
                        r = await http.post("/v1/voc", headers={"Idempotency-Key": key}, json=body)
                        if r.status_code == 202:
                            accepted[key] = r.json()["case_id"]
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.05)

    # Kills land at random points of the stream's progress, not of wall time: on a
    # fast machine a timer could let the whole stream finish between two kills.
    kill_points = sorted(rng.sample(range(TOTAL // 20, TOTAL * 17 // 20), KILLS))

    async def killer() -> int:
        kills = 0
        for point in kill_points:
            while len(accepted) < point:
                await asyncio.sleep(0.01)
            stack.procs["intake"].send_signal(signal.SIGKILL)
            stack.procs["intake"].wait()
            kills += 1
            devrun.start_service(stack, "intake")
            await devrun.wait_ready(stack, ("intake",))
        return kills

    keys = [str(uuid.uuid4()) for _ in range(TOTAL)]
    kill_task = asyncio.create_task(killer())
    try:
        await asyncio.wait_for(asyncio.gather(*(client(w, keys[w::20]) for w in range(20))), 240)
        kills = await asyncio.wait_for(kill_task, 30)
    finally:
        kill_task.cancel()
    try:
        assert kills == KILLS
        assert len(accepted) == TOTAL
        conn = await asyncpg.connect(stack.database_url)
        rows = await conn.fetch("SELECT id::text, idempotency_key FROM intake.cases")
        await conn.close()
        # stored under the channel system's key name (make-run, issue_dev_key's default)
        by_key = {r["idempotency_key"].removeprefix("http:make-run:"): r["id"] for r in rows}
        assert len(rows) == TOTAL == len(by_key)
        assert by_key == accepted  # every 2xx is exactly the case that was stored
        for _ in range(100):  # the relay catches up after the last restart
            subjects = await stream_header(server.url, "VOC_INTAKE", "ce-subject")
            if len(subjects) >= TOTAL:
                break
            await asyncio.sleep(0.2)
        missing = set(accepted.values()) - set(subjects)
        extra = [s for s in subjects if s not in set(accepted.values())]
        assert missing == set() and extra == [] and len(subjects) == len(set(subjects)) == TOTAL
    finally:
        devrun.stop_services(stack)
        server.stop()
    print(json.dumps({"vocs": TOTAL, "kills": kills}))
