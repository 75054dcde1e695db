"""The four services as separate OS processes against the session's real servers."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import asyncpg
import httpx
import nats
import pytest

from services import devrun


@pytest.fixture(scope="module")
async def system(nats_url: str, pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory):
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    for info in await js.streams_info():  # start from empty streams, like a fresh deployment
        if info.config.name.startswith("VOC_"):
            await js.delete_stream(info.config.name)
    await nc.close()
    name = f"e2e_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg_admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    stack = devrun.Stack(var=Path(tmp_path_factory.mktemp("var")), nats_url=nats_url,
                         database_url=f"{pg_admin_url.rpartition('/')[0]}/{name}")
    for svc in devrun.SERVICES:
        devrun.start_service(stack, svc)
    try:
        await devrun.wait_ready(stack)
        await devrun.issue_dev_key(stack, "e2e")
        yield stack
    finally:
        devrun.stop_services(stack)
    # uvicorn re-raises the SIGTERM it handled once shutdown is complete, so -15 is a clean exit
    codes = {svc: p.returncode for svc, p in stack.procs.items()}
    assert set(codes.values()) <= {0, -signal.SIGTERM}, f"unclean exit {codes}; logs in {stack.var / 'log'}"
    for svc in devrun.SERVICES:
        log = stack.log(svc).read_text()
        assert f"{svc} stopped" in log and "Traceback" not in log, f"{svc} log:\n{log[-3000:]}"


@pytest.fixture
async def http(system):
    clients = {svc: httpx.AsyncClient(base_url=system.url(svc), timeout=10) for svc in devrun.SERVICES}
    clients["intake"].headers["X-Api-Key"] = system.api_key
    clients["routing"].headers["X-Api-Key"] = devrun.team_keys(system.var)["group"]  # the office sees all
    clients["routing"].headers["X-Staff-Id"] = devrun.DEV_STAFF["group"]  # an employee of the office
    yield clients
    for c in clients.values():
        await c.aclose()


@pytest.fixture
async def db(system):
    conn = await asyncpg.connect(system.database_url)
    yield conn
    await conn.close()
