"""The bus task starts FastStream's subscribers one at a time and rides out a JetStream request
that times out while a cluster node is away (seen in the cluster chaos scenario: feedback's
bus task died on `consumer_info` and its consumer stopped until a restart). A subscriber
already started is not started twice; a refusal that waiting will not change still fails."""

from __future__ import annotations

import asyncio

import nats.errors
import pytest
from nats.js.errors import BadRequestError, ServiceUnavailableError

from shared.runtime import Runtime, nats_unavailable


class Sub:
    def __init__(self, subject: str, failures: list[BaseException]) -> None:
        self.subject, self.failures, self.starts = subject, list(failures), 0

    async def start(self) -> None:
        self.starts += 1
        if self.failures:
            raise self.failures.pop(0)


class Broker:
    def __init__(self, subs: list[Sub]) -> None:
        self.subscribers, self.publishers, self.running, self.connects = subs, [], False, 0

    async def connect(self) -> None:
        self.connects += 1


def runtime_with(broker: Broker) -> Runtime:
    runtime = Runtime.__new__(Runtime)  # only what _start_broker uses
    runtime.name, runtime.broker, runtime._stopping = "feedback", broker, asyncio.Event()
    runtime._nats_tls = {}  # no TLS
    return runtime


async def test_a_timed_out_consumer_request_is_retried_for_that_subscriber_alone():
    first, flaky, last = Sub("a", []), Sub("b", [nats.errors.TimeoutError(), ServiceUnavailableError()]), Sub("c", [])
    broker = Broker([first, flaky, last])
    await runtime_with(broker)._start_broker()
    assert (first.starts, flaky.starts, last.starts) == (1, 3, 1)
    assert broker.running and broker.connects == 1


async def test_a_refusal_is_not_waited_for():
    broker = Broker([Sub("a", [BadRequestError(code=400, description="consumer config mismatch")])])
    with pytest.raises(BadRequestError):
        await runtime_with(broker)._start_broker()
    assert not broker.running


def test_what_counts_as_nats_being_away():
    assert nats_unavailable(nats.errors.TimeoutError()) and nats_unavailable(ConnectionRefusedError())
    assert nats_unavailable(nats.errors.NoRespondersError()) and nats_unavailable(ServiceUnavailableError())
    assert not nats_unavailable(BadRequestError()) and not nats_unavailable(ValueError())


async def test_a_stopping_process_stops_retrying_even_if_its_cancellation_came_back_as_a_timeout():
    """uvicorn that cannot bind its port shuts the app down at once, while the bus task is still
    starting; nats-py can turn the task's cancellation into a timeout, and the retry loop went on
    for ever, so the process never exited."""
    broker = Broker([Sub("a", [nats.errors.TimeoutError()] * 100)])
    runtime = runtime_with(broker)
    runtime._stopping.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(runtime._start_broker(), timeout=5)
    assert broker.subscribers[0].starts == 1
