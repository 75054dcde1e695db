"""The embedded PostgreSQL runs with the settings the services' tables need."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from shared.devstack import PostgresServer

pytestmark = pytest.mark.integration


def test_autovacuum_visits_the_outbox_queues_every_few_seconds(tmp_path: Path):
    """Outbox rows are deleted as they are published: at the default 60 s between autovacuum
    rounds, a relay's look for pending rows scans a minute of dead rows (~100 ms a look at 700/s)."""
    server = PostgresServer(tmp_path / "pg", durable=False).start()
    try:
        async def setting() -> str:
            conn = await asyncpg.connect(server.url)
            try:
                return await conn.fetchval("SHOW autovacuum_naptime")
            finally:
                await conn.close()

        assert asyncio.run(setting()) == "5s"
    finally:
        server.stop()
