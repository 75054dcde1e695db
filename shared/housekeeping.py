"""Housekeeping of the messaging tables, so they do not grow for ever.

- **outbox:** the relay deletes a row as it is published, so the table holds only pending rows,
  which are never deleted, however old. Versions before shared migration 902 marked published
  rows (`sent_at`) instead; rows such a replica marks during a rolling upgrade are deleted here.
- **inbox:** a (consumer, event id) row guards one effect against a redelivery. A message can be
  redelivered only while its stream still holds it, and no stream keeps messages longer than
  `MAX_STREAM_AGE_DAYS` (shared/bus.py). So rows older than `inbox_keep_days` are deleted; the
  setting may not be lower than the longest stream's age (shared/config.py checks).
- **a service's own guard tables** (`Retention`): rows that, like inbox rows, only keep a redelivered
  message from acting twice (the classifier's live-call counts and alerts) are deleted at the same age.

Rows go in chunks, each deleted in its own short transaction, so a backlog neither holds locks
for long nor makes one huge transaction. Replicas may run it at the same time: a row deleted by
one is skipped by the other. The inbox is written in time order, and a BRIN index on its time
column (shared/sql/901) finds the old end without reading the whole table.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

log = logging.getLogger(__name__)


_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True)
class Retention:
    """A table of the service's own whose rows older than the inbox's age are deleted: `table`
    (schema-qualified) by its time `column`, which should have an index (BRIN: written in time order)."""

    table: str
    column: str

    def __post_init__(self) -> None:
        parts = self.table.split(".")
        if len(parts) != 2 or not all(_IDENTIFIER.fullmatch(p) for p in (*parts, self.column)):
            raise ValueError(f"not a schema.table and column name: {self.table!r}, {self.column!r}")


class Housekeeper:
    def __init__(self, pool: asyncpg.Pool, schema: str, *, inbox_keep_days: float, chunk: int = 5000,
                 retention: Sequence[Retention] = ()) -> None:
        if inbox_keep_days <= 0 or chunk < 1:
            raise ValueError(f"inbox_keep_days must be > 0 and chunk >= 1, not {inbox_keep_days} and {chunk}")
        self.pool, self.chunk = pool, chunk
        self.inbox_keep_days = float(inbox_keep_days)
        if len({r.table for r in retention}) < len(retention):
            raise ValueError(f"a table is named twice for retention: {[r.table for r in retention]}")
        self.PURGE_RETAINED = {r.table: (
            f"DELETE FROM {r.table} WHERE ctid = ANY(ARRAY("
            f"SELECT ctid FROM {r.table} WHERE {r.column} < now() - make_interval(secs => $1) LIMIT $2))")
            for r in retention}
        # rows an older version marked published (the table holds little else: pending rows)
        self.PURGE_MARKED = (
            f"DELETE FROM {schema}.outbox WHERE id = ANY(ARRAY("
            f"SELECT id FROM {schema}.outbox WHERE sent_at IS NOT NULL LIMIT $1))")
        self.PURGE_INBOX = (
            f"DELETE FROM {schema}.inbox WHERE ctid = ANY(ARRAY("
            f"SELECT ctid FROM {schema}.inbox WHERE processed_at < now() - make_interval(secs => $1) LIMIT $2))")

    async def _purge(self, statement: str, *args: object) -> int:
        total = 0
        while True:
            status = await self.pool.execute(statement, *args, self.chunk)
            n = int(status.split()[-1])  # "DELETE n"
            total += n
            if n < self.chunk:
                return total

    async def once(self) -> tuple[int, int]:
        """(outbox rows marked published by an older version, inbox rows) deleted."""
        sent = await self._purge(self.PURGE_MARKED)
        inbox = await self._purge(self.PURGE_INBOX, self.inbox_keep_days * 86400)
        return sent, inbox

    async def retained(self) -> dict[str, int]:
        """The rows deleted from each of the service's own guard tables."""
        return {table: await self._purge(statement, self.inbox_keep_days * 86400)
                for table, statement in self.PURGE_RETAINED.items()}

    async def run(self, stop: asyncio.Event, interval_s: float) -> None:
        """Every `interval_s` until `stop`; a database that is away is tried again next time."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
                return
            except asyncio.TimeoutError:
                pass
            try:
                sent, inbox = await self.once()
                if sent or inbox:
                    log.info("housekeeping: deleted %d marked outbox rows and %d inbox rows", sent, inbox)
                own = {table: n for table, n in (await self.retained()).items() if n}
                if own:
                    log.info("housekeeping: deleted rows past %.0f days: %s", self.inbox_keep_days, own)
            except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError,
                    asyncpg.exceptions.InternalClientError) as exc:
                log.warning("housekeeping skipped, tried again in %.0f s: %r", interval_s, exc)
            except Exception:  # never let the task end: nothing would purge the inbox until a restart
                log.exception("housekeeping failed, tried again in %.0f s", interval_s)
