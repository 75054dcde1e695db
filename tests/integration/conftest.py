"""Integration fixtures shared across modules."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared import db


@pytest.fixture
async def conn(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the test's own fresh database (`database_url`) with the migrations of the
    service the test module names in `SERVICE` applied."""
    service = request.module.SERVICE
    migrations = importlib.import_module(f"services.{service}.entrypoint").MIGRATIONS
    c = await db.connect(database_url)
    await db.migrate(c, service, migrations)
    yield c
    await c.close()
