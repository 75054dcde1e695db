"""Stand-ins for the database in route tests that need no PostgreSQL (the routes' logic only)."""

from __future__ import annotations

from contextlib import asynccontextmanager


class OneRowPool:
    """A pool whose every lookup answers `row` (None: no such case); records the statements it is given."""

    def __init__(self, row: dict | None = None):
        self.row, self.statements = row, []

    @asynccontextmanager
    async def acquire(self):
        yield self

    @asynccontextmanager
    async def transaction(self, **_):
        yield

    async def fetchrow(self, *args):
        self.statements.append(args)
        return self.row

    async def execute(self, *args):
        self.statements.append(args)
