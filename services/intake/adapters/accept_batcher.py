"""Group commit for accepted VOCs.

Concurrent submissions wait a moment (at most `max_wait_s`) and are inserted together:
one statement, its own transaction, so one round trip for up to `max_batch` cases instead
of one commit each. Every caller is answered only after that statement has committed, so
"accepted" still means durable. If the batch fails, each submission is retried on its own
so one bad row cannot fail the others."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from services.intake.adapters.repository import accept_cases

log = logging.getLogger(__name__)


class AcceptBatcher:
    def __init__(self, pool: asyncpg.Pool, *, max_batch: int = 64, max_wait_s: float = 0.001,
                 hold_s: float = 5.0, dispatch: Callable[[list], Awaitable[None]] | None = None,
                 wake: Callable[[], None] | None = None) -> None:
        """With `dispatch` (Relay.dispatch), a batch's outbox rows are written held for `hold_s`
        (Outbox.hold_s) and published as soon as the batch has committed, while its callers are
        answered. Without it they are the relay's, and `wake` (Relay.wake) tells it so."""
        self.pool, self.max_batch, self.max_wait_s = pool, max_batch, max_wait_s
        self.hold_s, self.dispatch, self.wake = hold_s, dispatch, wake
        self._publishing: set[asyncio.Task] = set()
        self._queue: list[tuple[tuple, asyncio.Future]] = []
        self._kick = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.batches = 0

    async def insert(self, args: tuple) -> bool:
        """True when the case was inserted, False when its key already existed."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="intake-accept-batcher")
        fut = asyncio.get_running_loop().create_future()
        self._queue.append((args, fut))
        self._kick.set()
        return await fut

    async def _run(self) -> None:
        while True:
            await self._kick.wait()
            if len(self._queue) < self.max_batch:
                await asyncio.sleep(self.max_wait_s)  # let concurrent requests join this commit
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
            if not self._queue:
                self._kick.clear()
            if batch:
                await self._flush(batch)

    async def _flush(self, batch: list[tuple[tuple, asyncio.Future]]) -> None:
        hold = self.hold_s if self.dispatch else None
        try:
            async with self.pool.acquire() as conn:
                inserted, own = await accept_cases(conn, [args for args, _ in batch], hold)
        except Exception:
            log.warning("batched accept failed; retrying %d submissions one by one", len(batch), exc_info=True)
            await asyncio.gather(*(self._one(args, fut) for args, fut in batch))
            return
        self.batches += 1
        if own and self.wake and hold is None:
            self.wake()
        for args, fut in batch:
            if not fut.done():
                fut.set_result(args[0] in inserted)
        if own and hold is not None:
            task = asyncio.create_task(self.dispatch(own))  # type: ignore[misc]
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)

    async def _one(self, args: tuple, fut: asyncio.Future) -> None:
        try:
            async with self.pool.acquire() as conn:
                inserted = bool((await accept_cases(conn, [args]))[0])
            if inserted and self.wake:
                self.wake()
            fut.set_result(inserted)
        except Exception as exc:
            if not fut.done():
                fut.set_exception(exc)

    async def close(self) -> None:
        if self._task:
            while self._queue:
                await asyncio.sleep(0.01)
            self._task.cancel()
