"""Real servers for the integration and e2e suites, started by the tests themselves.

A session gets one nats-server (JetStream, temp store) and one PostgreSQL (temp
data dir) on free loopback ports. Set MOKSORI_TEST_NATS_URL /
MOKSORI_TEST_DATABASE_URL to use servers of your own instead; tests create and
delete streams and databases there, so never point them at production.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import nats
import pytest

from shared.devstack import NatsServer, PostgresServer


def pytest_configure(config: pytest.Config) -> None:
    """Each session gets a temp root of its own. Under pytest's shared `pytest-of-<user>`, a
    second session started meanwhile (a unit run in another terminal) deletes the oldest
    `pytest-N` directories, with the first session's PostgreSQL data directory in them."""
    if not config.option.basetemp and not hasattr(config, "workerinput"):
        config.option.basetemp = tempfile.mkdtemp(prefix="moksori-pytest-")
        config._moksori_basetemp = config.option.basetemp  # type: ignore[attr-defined]


@pytest.hookimpl(trylast=True)  # after the session's fixtures (the servers) are torn down
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Removed after a passing run; kept (and named) after a failing one, for its logs."""
    base = getattr(session.config, "_moksori_basetemp", None)
    if base and exitstatus == 0:
        shutil.rmtree(base, ignore_errors=True)
    elif base:
        print(f"\ntest servers' files and logs kept in {base}")


@pytest.fixture(scope="session")
def tmp_servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def nats_server(tmp_servers_dir: Path) -> Iterator[NatsServer | None]:
    if os.environ.get("MOKSORI_TEST_NATS_URL"):
        yield None
        return
    server = NatsServer(tmp_servers_dir / "nats", name="moksori-test").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nats_url(nats_server: NatsServer | None) -> str:
    return os.environ.get("MOKSORI_TEST_NATS_URL") or nats_server.url  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def pg_server(tmp_servers_dir: Path) -> Iterator[PostgresServer | None]:
    if os.environ.get("MOKSORI_TEST_DATABASE_URL"):
        yield None
        return
    server = PostgresServer(tmp_servers_dir / "pg", durable=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_admin_url(pg_server: PostgresServer | None) -> str:
    return os.environ.get("MOKSORI_TEST_DATABASE_URL") or pg_server.url  # type: ignore[union-attr]


@pytest.fixture
async def database_url(pg_admin_url: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base, _, _ = pg_admin_url.rpartition("/")
    yield f"{base}/{name}"
    admin = await asyncpg.connect(pg_admin_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[nats.NATS]:
    client = await nats.connect(nats_url)
    yield client
    await client.drain()


@pytest.fixture
async def clean_js(nc: nats.NATS):
    """A JetStream with none of the project's streams (nor its key-value buckets') left over from earlier tests."""
    from shared.bus import BUCKETS

    js = nc.jetstream()
    for info in await js.streams_info():
        if info.config.name.startswith("VOC_") or info.config.name in {b.stream for b in BUCKETS}:
            await js.delete_stream(info.config.name)
    return js
