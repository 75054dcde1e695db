"""A route whose database goes away answers 503 with Retry-After, also when the connection is
lost inside a transaction (asyncpg then raises the transaction's InterfaceError, with the loss as
its context); an InterfaceError that is a bug stays a 500. Against a real PostgreSQL, whose
backend is terminated mid-transaction as a fast shutdown or a failover does."""

from __future__ import annotations

import asyncio
import errno
import ssl
from pathlib import Path

import asyncpg
import httpx
import pytest

from shared import db
from shared.config import ServiceSettings
from shared.runtime import Runtime

pytestmark = pytest.mark.integration


@pytest.fixture
async def app_and_pool(database_url, tmp_path: Path):
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    rt = Runtime("probe", ServiceSettings(database_url=database_url), tmp_path)

    async def in_transaction():
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_sleep(30)")  # the backend is terminated meanwhile
        return {"ok": True}

    async def misused():
        raise asyncpg.InterfaceError("cannot perform operation: another operation is in progress")

    rt.http.add_api_route("/in-transaction", in_transaction)
    rt.http.add_api_route("/misused", misused)
    yield rt.http, pool
    await pool.close()


async def test_a_connection_lost_inside_a_transaction_is_a_503_with_retry_after(app_and_pool, database_url):
    app, _ = app_and_pool
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as http:
        request = asyncio.create_task(http.get("/in-transaction"))
        killer = await asyncpg.connect(database_url)
        try:
            for _ in range(100):
                pid = await killer.fetchval("SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'")
                if pid:
                    break
                await asyncio.sleep(0.05)
            assert pid and await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await killer.close()
        r = await asyncio.wait_for(request, 10)
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "1" and "database is unavailable" in r.json()["error"]


async def test_an_interface_error_that_is_a_bug_stays_a_500(app_and_pool):
    app, _ = app_and_pool
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as http:
        r = await http.get("/misused")
    assert r.status_code == 500


def test_what_counts_as_the_database_being_away():
    lost = asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation")
    in_tx = asyncpg.InterfaceError("cannot call Transaction.__aexit__(): the underlying connection is closed")
    in_tx.__context__ = lost
    assert db.storage_is_down(lost) and db.storage_is_down(in_tx)
    assert db.storage_is_down(ConnectionRefusedError(111, "Connection refused"))
    assert db.storage_is_down(db.DatabaseUnreachable("PostgreSQL did not answer: TimeoutError()"))
    closed = asyncpg.InterfaceError("cannot perform operation: connection is closed")  # used after the loss
    assert db.storage_is_down(closed)
    exit_after_closed = asyncpg.InterfaceError("cannot call Transaction.__aexit__(): the underlying connection is closed")
    exit_after_closed.__context__ = asyncpg.InterfaceError("cannot perform operation: connection is closed")
    assert db.storage_is_down(exit_after_closed)
    assert not db.storage_is_down(asyncpg.InterfaceError("cannot perform operation: another operation is in progress"))
    assert not db.storage_is_down(TimeoutError())  # a query that ran too long is not an outage
    assert not db.storage_is_down(asyncpg.UniqueViolationError("duplicate key"))


async def test_a_server_that_takes_the_connection_but_never_answers_is_unreachable(monkeypatch):
    """A paused VM or a failover black hole: the connection attempt gives up after
    CONNECT_TIMEOUT_S as DatabaseUnreachable (an outage, 503), not a TimeoutError (a 500)."""
    held = []

    async def silent(reader, writer):
        held.append(writer)  # accepted, never answered

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(db, "CONNECT_TIMEOUT_S", 0.5)
    try:
        with pytest.raises(db.DatabaseUnreachable) as caught:
            await asyncio.wait_for(db.create_pool(f"postgresql://moksori@127.0.0.1:{port}/moksori", min_size=1), 10)
        assert db.storage_is_down(caught.value)
    finally:
        for w in held:
            w.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("raised,outage", [
    (OSError(errno.EHOSTUNREACH, "No route to host"), True),  # a node or pod address gone
    (OSError(errno.ENETUNREACH, "Network is unreachable"), True),
    (PermissionError(errno.EACCES, "Permission denied"), False),  # a misconfiguration: fail plainly
    (ssl.SSLCertVerificationError("certificate verify failed"), False),
])
async def test_only_connection_failures_that_are_outages_become_unreachable(monkeypatch, raised, outage):
    async def connect(*args, **kwargs):
        raise raised

    monkeypatch.setattr(asyncpg, "connect", connect)
    with pytest.raises(Exception) as caught:
        await db._connect_or_unreachable("postgresql://moksori@db.moksori.svc/moksori", timeout=5)
    assert isinstance(caught.value, db.DatabaseUnreachable) is outage
    assert db.storage_is_down(caught.value) is outage
