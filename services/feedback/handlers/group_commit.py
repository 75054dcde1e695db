"""Group commit for survey answers that arrive over HTTP at the same time.

Each request waits for the commit that holds its answer before it is answered 201, exactly as
when it wrote alone; but the answers that came in while the previous write was on its way go
to PostgreSQL together, in one transaction (`record_many`: the answers, their FeedbackSubmitted
rows and any service recovery). Nothing waits on a timer: a lone answer is written at once, and
batches form only because requests arrive while a write is in flight.

An answer the batch did not record (no survey yet, answered before, a second answer for the
same case in the batch, or a batch that failed) comes back `False`, and the handler decides it
on its own with `record_response`, which tells a repeat from a conflict and isolates a failure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

from services.feedback.handlers.responses import Prepared, record_many
from shared.outbox import Outbox

log = logging.getLogger(__name__)


class GroupCommit:
    def __init__(self, pool: Callable[[], asyncpg.Pool], outbox: Outbox, max_batch: int = 200) -> None:
        """`pool` is looked up at write time: it exists only once the service has started."""
        self._pool, self._outbox, self._max = pool, outbox, max_batch
        self._waiting: list[tuple[Prepared, asyncio.Future[bool]]] = []
        self._writing: asyncio.Task | None = None
        self.batches = 0

    async def record(self, answer: Prepared) -> bool:
        """True once the answer is committed; False when the handler must decide it alone."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((answer, done))
        if self._writing is None:
            self._writing = asyncio.get_running_loop().create_task(self._write_while_waiting())
        return await done

    async def _write_while_waiting(self) -> None:
        batch: list[tuple[Prepared, asyncio.Future[bool]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:self._max], self._waiting[self._max:]
                await self._write(batch)
        finally:
            self._writing = None
            # cancelled (shutdown) or failed beyond `_write`'s own handling: nobody waits forever;
            # each request then writes its answer alone (or fails there with a clear error)
            for _, done in (*batch, *self._waiting):
                if not done.done():
                    done.set_result(False)
            self._waiting = []

    async def _write(self, batch: list[tuple[Prepared, asyncio.Future[bool]]]) -> None:
        first: dict = {}
        for answer, _ in batch:
            first.setdefault(answer.case_id, answer)
        answers = list(first.values())  # record_many writes them in case order (no lock-order deadlocks)
        try:
            async with self._pool().acquire() as conn, conn.transaction():
                recorded = await record_many(conn, self._outbox, answers)
            self.batches += 1
        except Exception:  # each answer is then written on its own, where a failure is its own
            log.warning("writing %d survey answers together failed; writing them one by one", len(answers),
                        exc_info=True)
            recorded = set()
        for answer, done in batch:
            if not done.done():  # the request may have been cancelled (client gone)
                done.set_result(answer.case_id in recorded and first[answer.case_id] is answer)
