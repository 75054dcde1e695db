"""The SLA sweeper: a loop in every routing replica. Each warning and escalation is
claimed with SKIP LOCKED and marked in the same transaction as its outbox rows, so it
fires exactly once across replicas and restarts."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import asyncpg

from services.routing.adapters import repository as repo
from services.routing.domain.sweeper import escalation, warning
from shared.outbox import Outbox

log = logging.getLogger(__name__)


async def sweep_once(pool: asyncpg.Pool, outbox: Outbox, now: datetime, limit: int = 200, counter=None) -> int:
    fired = 0
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(repo.DUE_WARNINGS, now, limit)
        for r in rows:
            await outbox.add(conn, warning(r["case_id"], r["tracking_code"], r["affiliate"], r["resolve_due"]))
        await conn.execute(repo.MARK_WARNED, [r["case_id"] for r in rows], now)
        fired += len(rows)
        counts = {"warning": len(rows)}
        for query, mark, deadline, due_col in ((repo.DUE_BREACHES, repo.MARK_BREACHED, "resolve", "resolve_due"),
                                               (repo.DUE_ACK_BREACHES, repo.MARK_ACK_BREACHED, "acknowledge",
                                                "ack_due")):
            rows = await conn.fetch(query, now, limit)
            for r in rows:
                for event in escalation(r["case_id"], r["tracking_code"], r["affiliate"], r["team"], deadline,
                                        r[due_col]):
                    await outbox.add(conn, event)
            await conn.execute(mark, [r["case_id"] for r in rows], now)
            fired += len(rows)
            counts[f"{deadline}_breach"] = len(rows)
    if counter is not None:  # after commit: what was counted has really fired
        for kind, n in counts.items():
            if n:
                counter.labels(kind).inc(n)
    return fired


async def run_sweeper(pool: asyncpg.Pool, outbox: Outbox, wake, stop: asyncio.Event, every_s: float,
                      counter=None) -> None:
    while not stop.is_set():
        try:
            if await sweep_once(pool, outbox, datetime.now(UTC), counter=counter):
                wake()
                continue
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("sla sweeper waiting: %r", exc)
        except Exception:
            log.exception("sla sweeper error")
        try:
            await asyncio.wait_for(stop.wait(), every_s)
        except asyncio.TimeoutError:
            pass
