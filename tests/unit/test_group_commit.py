"""The survey-answer group commit never leaves a request waiting: if its writer is cancelled
(shutdown) mid-write, every waiting answer is handed back to be written alone. (Its database
behaviour is in tests/integration/test_feedback_bulk.py.)"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager

from services.feedback.domain.survey import Answer
from services.feedback.handlers.group_commit import GroupCommit
from services.feedback.handlers.responses import Prepared


class StuckPool:
    """A pool whose connections never come: the write hangs until it is cancelled."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()

    @asynccontextmanager
    async def acquire(self):
        self.asked.set()
        await asyncio.Event().wait()
        yield None


def answer() -> Prepared:
    return Prepared(uuid.uuid4(), Answer(5, 9, 2, None), False, ())


async def test_a_cancelled_writer_hands_every_waiting_answer_back():
    pool = StuckPool()
    group = GroupCommit(lambda: pool, outbox=None)  # type: ignore[arg-type]
    first = asyncio.create_task(group.record(answer()))
    await pool.asked.wait()  # the first answer is being written; these wait behind it
    later = [asyncio.create_task(group.record(answer())) for _ in range(3)]
    await asyncio.sleep(0)
    group._writing.cancel()  # as at shutdown
    assert await asyncio.wait_for(asyncio.gather(first, *later), timeout=2) == [False] * 4
    assert group._writing is None  # and the next answer starts a new writer
    pool2 = StuckPool()
    group._pool = lambda: pool2
    nxt = asyncio.create_task(group.record(answer()))
    await asyncio.wait_for(pool2.asked.wait(), timeout=2)
    group._writing.cancel()
    assert await asyncio.wait_for(nxt, timeout=2) is False
