"""Housekeeping of the messaging tables, so they do not grow for ever.

- **outbox:** a row sent more than `outbox_keep_hours` ago (default 24) has done its job. Nothing
  publishes a sent row again, and JetStream's duplicate window is 2 minutes. Sent rows stay a
  day for inspection. Pending rows are never deleted, however old.
- **inbox:** a (consumer, event id) row guards one effect against a redelivery. A message can be
  redelivered only while its stream still holds it, and no stream keeps messages longer than
  `MAX_STREAM_AGE_DAYS` (shared/bus.py). So rows older than `inbox_keep_days` are deleted; the
  setting may not be lower than the longest stream's age (shared/config.py checks).

Rows go in chunks, each deleted in its own short transaction, so a backlog neither holds locks
for long nor makes one huge transaction. Replicas may run it at the same time: a row deleted by
one is skipped by the other. Both tables are written in time order, and a BRIN index on their
time column (shared/sql/901) finds the old end without reading the whole table.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

log = logging.getLogger(__name__)


class Housekeeper:
    def __init__(self, pool: asyncpg.Pool, schema: str, *, outbox_keep_hours: float, inbox_keep_days: float,
                 chunk: int = 5000) -> None:
        if outbox_keep_hours <= 0 or inbox_keep_days <= 0 or chunk < 1:
            raise ValueError(f"outbox_keep_hours and inbox_keep_days must be > 0 and chunk >= 1, not "
                             f"{outbox_keep_hours}, {inbox_keep_days} and {chunk}")
        self.pool, self.chunk = pool, chunk
        self.outbox_keep_hours, self.inbox_keep_days = float(outbox_keep_hours), float(inbox_keep_days)
        # sent_at >= created_at: the created_at bound lets the BRIN index narrow the search
        self.PURGE_SENT = (
            f"DELETE FROM {schema}.outbox WHERE id = ANY(ARRAY("
            f"SELECT id FROM {schema}.outbox WHERE created_at < now() - make_interval(secs => $1) "
            "AND sent_at < now() - make_interval(secs => $1) LIMIT $2))")
        self.PURGE_INBOX = (
            f"DELETE FROM {schema}.inbox WHERE ctid = ANY(ARRAY("
            f"SELECT ctid FROM {schema}.inbox WHERE processed_at < now() - make_interval(secs => $1) LIMIT $2))")

    async def _purge(self, statement: str, keep_s: float) -> int:
        total = 0
        while True:
            status = await self.pool.execute(statement, keep_s, self.chunk)
            n = int(status.split()[-1])  # "DELETE n"
            total += n
            if n < self.chunk:
                return total

    async def once(self) -> tuple[int, int]:
        """(sent outbox rows, inbox rows) deleted."""
        sent = await self._purge(self.PURGE_SENT, self.outbox_keep_hours * 3600)
        inbox = await self._purge(self.PURGE_INBOX, self.inbox_keep_days * 86400)
        return sent, inbox

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
            except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("housekeeping skipped, tried again in %.0f s: %r", interval_s, exc)
                continue
            if sent or inbox:
                log.info("housekeeping: deleted %d sent outbox rows and %d inbox rows", sent, inbox)
