"""Servers for the chaos suite. Chaos scenarios run on a durable PostgreSQL (fsync on):
a crash test on a database that may lose committed data would prove nothing. Each
scenario gets a fresh database on it, and its own nats-server(s)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from shared.devstack import PostgresServer


@pytest.fixture(scope="package")
def chaos_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = PostgresServer(Path(tmp_path_factory.mktemp("chaos-pg")) / "pg", durable=True).start()
    yield server
    server.stop()


@pytest.fixture
async def chaos_db(chaos_pg: PostgresServer) -> AsyncIterator[str]:
    name = f"chaos_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(chaos_pg.url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    yield f"{chaos_pg.url.rpartition('/')[0]}/{name}"
    admin = await asyncpg.connect(chaos_pg.url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()
