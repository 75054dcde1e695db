"""ensure_topology rides out nats-server's "error creating store" answer for a stream (or a key-value bucket's)
that was just deleted, and still fails on every other server error."""

from __future__ import annotations

import pytest
from nats.js.errors import ServerError

from shared import bus
from shared.bus import BUCKETS, STREAMS, ensure_topology


class FlakyStore:
    """Answers add_stream with 10049 for the first `failures` calls per stream."""

    def __init__(self, failures: int, err_code: int = bus.STORE_NOT_READY) -> None:
        self.failures, self.err_code = failures, err_code
        self.calls: dict[str, int] = {}
        self.created: list[str] = []

    async def add_stream(self, cfg):
        n = self.calls[cfg.name] = self.calls.get(cfg.name, 0) + 1
        if n <= self.failures:
            raise ServerError(code=500, err_code=self.err_code, description="error creating store for stream")
        self.created.append(cfg.name)

    async def create_key_value(self, cfg):  # nats-py adds the bucket's stream, KV_<bucket>
        await self.add_stream(type("Stream", (), {"name": f"KV_{cfg.bucket}"})())

    async def add_consumer(self, stream, cfg):
        pass


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(bus, "STORE_RETRIES", (0.0, 0.0, 0.0))


async def test_a_store_still_going_away_is_retried_until_the_stream_is_created():
    js = FlakyStore(failures=2)
    await ensure_topology(js, consumers=())
    assert js.created == [s.name for s in STREAMS] + [b.stream for b in BUCKETS]
    assert all(n == 3 for n in js.calls.values())


async def test_a_store_that_never_comes_back_fails_after_the_retries():
    js = FlakyStore(failures=99)
    with pytest.raises(ServerError):
        await ensure_topology(js, consumers=())
    assert js.calls[STREAMS[0].name] == len(bus.STORE_RETRIES) + 1


async def test_other_server_errors_are_not_retried():
    js = FlakyStore(failures=1, err_code=10074)
    with pytest.raises(ServerError):
        await ensure_topology(js, consumers=())
    assert js.calls[STREAMS[0].name] == 1
