"""Postgres plumbing: pools opened at start-up, and plain-SQL migrations per service.

Each service owns one schema. Its migrations are `NNN_name.sql` files applied in
order, each in its own transaction, and recorded in `public.moksori_migrations`.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import logging
import re
import socket
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

_MIGRATION_FILE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_LOCK_KEY = 0x6D6F6B736F7269  # "moksori": one migrator at a time across replicas
# A migration waiting for a table lock (ALTER TABLE behind a long transaction) would queue every
# later query on that table behind it, stalling the running replicas during a rolling deploy. It
# waits at most this long per attempt, gives up, lets the traffic through, and tries again.
MIGRATION_LOCK_TIMEOUT_S = 2.0
MIGRATION_ATTEMPTS = 5
MIGRATION_RETRY_PAUSE_S = 1.0

CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS public.moksori_migrations (
    service    text        NOT NULL,
    version    int         NOT NULL,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, version)
)"""
SELECT_APPLIED = "SELECT version, checksum FROM public.moksori_migrations WHERE service = $1"
INSERT_APPLIED = "INSERT INTO public.moksori_migrations (service, version, name, checksum) VALUES ($1, $2, $3, $4)"


class MigrationError(RuntimeError):
    pass


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class LeanConnection(asyncpg.Connection):
    """No reset query on release to the pool: our code keeps no session state (no SET,
    LISTEN, cursors or session advisory locks outside the migrator's own connection),
    and the reset is a round trip on every request."""

    def get_reset_query(self) -> str:
        return ""


async def connect(url: str) -> asyncpg.Connection:
    """One connection with the same codecs as the pools (for CLI commands)."""
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    return conn


CONNECT_TIMEOUT_S = 5.0  # a server that takes the TCP connection but never answers is away


class DatabaseUnreachable(ConnectionError):
    """PostgreSQL did not answer a new connection in time, or its address cannot be reached."""


# PostgreSQL unreachable, restarting or gone mid-request. Only connection failures: a query that
# times out or a programming error is not an outage.
STORAGE_DOWN = (ConnectionError, socket.gaierror,  # refused, reset, aborted, unreachable while connecting
                asyncpg.CannotConnectNowError, asyncpg.exceptions.ConnectionDoesNotExistError,
                asyncpg.exceptions.ConnectionFailureError, asyncpg.exceptions.ClientCannotConnectError,
                asyncpg.exceptions.AdminShutdownError, asyncpg.exceptions.CrashShutdownError,
                asyncpg.exceptions.TooManyConnectionsError,  # every client reconnecting after a restart
                # a pooled connection left mid-operation by a server going away
                asyncpg.exceptions.InternalClientError)


# what to catch before asking `storage_is_down`
MAYBE_STORAGE_DOWN = (*STORAGE_DOWN, asyncpg.InterfaceError)


def storage_is_down(exc: BaseException | None) -> bool:
    """Whether an error means PostgreSQL is away rather than that the work was wrong. asyncpg
    reports a connection lost under a statement as ConnectionDoesNotExistError, but the next use of
    that connection, and the exit of a `conn.transaction()` block around it, as InterfaceError
    ("connection is closed", "the underlying connection is closed"), which may carry the loss as
    its context."""
    for _ in range(8):  # a short chain: the transaction's exit, a statement after the loss, the loss
        if isinstance(exc, STORAGE_DOWN):
            return True
        if not isinstance(exc, asyncpg.InterfaceError):
            return False
        if "connection is closed" in str(exc):
            return True
        exc = exc.__context__
    return False


UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


async def _connect_or_unreachable(*args, **kwargs) -> asyncpg.Connection:
    """asyncpg's connect, with a connection attempt that times out or finds no route to the server
    reported as DatabaseUnreachable (a ConnectionError), not as a TimeoutError that would read as
    a failed query. Other errors (TLS, permissions, a wrong password) stay what they are: a
    misconfiguration, not an outage."""
    try:
        return await asyncpg.connect(*args, **kwargs)
    except TimeoutError as exc:
        raise DatabaseUnreachable(f"PostgreSQL did not answer within {kwargs.get('timeout')} s") from exc
    except OSError as exc:
        if exc.errno in UNREACHABLE:
            raise DatabaseUnreachable(f"PostgreSQL cannot be reached: {exc!r}") from exc
        raise


async def create_pool(url: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, init=_init_connection,
                                     command_timeout=30, timeout=CONNECT_TIMEOUT_S,
                                     connect=_connect_or_unreachable, connection_class=LeanConnection)


def migration_files(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for p in sorted(directory.glob("*.sql")):
        m = _MIGRATION_FILE.match(p.name)
        if not m:
            raise MigrationError(f"{p}: migration files are named NNN_snake_case.sql")
        found.append((int(m.group(1)), p))
    versions = [v for v, _ in found]
    reserved = [v for v in versions if v == 0 or v >= SHARED_SERIES]
    if reserved:
        raise MigrationError(f"{directory}: versions 000 and {SHARED_SERIES}-999 are reserved for the shared "
                             f"messaging tables (found {reserved[0]:03d})")
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{directory}: two migrations share a version number")
    return found


SHARED_SERIES = 900
_SHARED_SQL = Path(__file__).parent / "sql"


async def _apply(conn: asyncpg.Connection, path: Path, sql: str, ledger_row: tuple, lock_timeout_s: float,
                 attempts: int, retry_pause_s: float) -> None:
    for attempt in range(1, attempts + 1):
        try:
            async with conn.transaction():
                await conn.execute("SELECT set_config('lock_timeout', $1, true)", f"{round(lock_timeout_s * 1000)}ms")
                await conn.execute(sql)
                await conn.execute(INSERT_APPLIED, *ledger_row)
            return
        except asyncpg.LockNotAvailableError as exc:
            if attempt == attempts:
                raise MigrationError(
                    f"{path}: could not take its locks in {attempts} attempts of {lock_timeout_s:g} s "
                    f"(a long transaction holds the table: {exc}); nothing was changed, start again to retry"
                ) from None
            log.warning("migration waiting for a lock; letting traffic through and trying again",
                        extra={"migration": path.name, "attempt": attempt, "of": attempts})
            await asyncio.sleep(retry_pause_s * attempt)


def shared_migrations() -> list[tuple[int, Path]]:
    """The messaging tables' migrations, applied in every service's schema: 000 before the
    service's own, 900 onwards after them (they only touch the outbox and inbox)."""
    return [(int(p.name[:3]), p) for p in sorted(_SHARED_SQL.glob("*.sql"))]


async def migrate(conn: asyncpg.Connection, service: str, directory: Path, *,
                  lock_timeout_s: float = MIGRATION_LOCK_TIMEOUT_S, attempts: int = MIGRATION_ATTEMPTS,
                  retry_pause_s: float = MIGRATION_RETRY_PAUSE_S) -> list[str]:
    """Apply pending migrations; refuses to run if an applied file was edited.

    Versions 000 and 900+ are the shared outbox/inbox DDL, placed in the service's schema.
    Each migration waits at most `lock_timeout_s` for its locks, `attempts` times."""
    if attempts < 1 or not lock_timeout_s >= 0.001 or retry_pause_s < 0:
        raise ValueError(f"migrate: attempts must be >= 1 (got {attempts}), lock_timeout_s >= 0.001 "
                         f"(got {lock_timeout_s}; 0 would wait forever) and retry_pause_s >= 0 (got {retry_pause_s})")
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(CREATE_LEDGER)
        applied = {r["version"]: r["checksum"] for r in await conn.fetch(SELECT_APPLIED, service)}
        for version, path in sorted([*shared_migrations(), *migration_files(directory)]):
            sql = path.read_text(encoding="utf-8")
            if path.parent == _SHARED_SQL:
                sql = sql.replace("{schema}", service)
            checksum = hashlib.sha256(sql.encode()).hexdigest()
            if version in applied:
                if applied[version] != checksum:
                    raise MigrationError(f"{path}: changed after it was applied; add a new migration instead")
                continue
            await _apply(conn, path, sql, (service, version, path.name, checksum),
                         lock_timeout_s, attempts, retry_pause_s)
            applied_now.append(path.name)
            log.info("migration applied", extra={"service": service, "migration": path.name})
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
