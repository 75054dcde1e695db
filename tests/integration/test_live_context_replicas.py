"""Two classifier replicas on `classifier-live` (deploy/base/classifier.yaml runs 2) share the call context through
the LIVE_CONTEXT bucket on a real nats-server: a watch word cut in two by the STT, whose halves reach different
replicas, still raises its alert, once; a later turn naming nothing on one leaves a tombstone the other reads its
next turn with (alone); and with NATS away screening goes on, a replica reading its own turns as before."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import nats
import pytest

from services.classifier.adapters.live_context import LiveContextBucket, key_of
from services.classifier.domain.lexicon import load_lexicon
from services.classifier.handlers.events import CallContext, on_segment
from shared.bus import LIVE_CONTEXT, ensure_topology
from shared.cloudevents import envelope_for
from shared.consumer import Delivery
from shared.events import AlertRaised, CallSegment, CallSegmentsReceived, case_id_for_call, segments_event_id
from shared.outbox import Outbox

pytestmark = pytest.mark.integration

SERVICE = "classifier"  # the `conn` fixture applies its migrations
OUTBOX = Outbox("classifier", "moksori/classifier")
LEXICON = load_lexicon()
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
CUT = ("아 네 그게요 이거 안 해주시면 금감원", "에 민원 넣을 거예요")  # each alone raises nothing


class Replica:
    """One classifier process's live screening: its own NATS connection, bucket mirror and writer, handler."""

    def __init__(self, nc: nats.NATS, published: list[AlertRaised]) -> None:
        self.nc = nc
        self.context = CallContext()
        self.shared = LiveContextBucket(self.context)
        self.context.write = self.shared.submit

        async def publish(msgs) -> None:
            published.extend(alert for alert, _ in msgs)

        self.process = on_segment(publish, OUTBOX, SimpleNamespace(lexicon=lambda: LEXICON), context=self.context)
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.shared.run(nc, self.stop))

    async def screen(self, conn, call_id: str, seq: int, text: str, speaker: str = "customer") -> None:
        """What the consumer does with a fetched message: ack it as quiet, or write it in a transaction."""
        seg = CallSegment(case_id=case_id_for_call(call_id), call_id=call_id, seq=seq, speaker=speaker, text=text,
                          ts=T0 + timedelta(seconds=3 * seq), affiliate="card")
        msg = CallSegmentsReceived(segments=(seg,))
        d = Delivery(env=envelope_for(msg, source="moksori/test", id=segments_event_id(msg.segments)), msg=msg,
                     raw=None)  # type: ignore[arg-type]
        if not self.process.no_effect(d):
            async with conn.transaction():
                await self.process.bulk(conn, [d])

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 5)
        await self.nc.close()


@pytest.fixture
async def replicas(nats_url: str) -> AsyncIterator[tuple[Replica, Replica, list[AlertRaised]]]:
    setup = await nats.connect(nats_url)
    await ensure_topology(setup.jetstream(), consumers=())  # the services' NATS_TOPOLOGY=ensure: the bucket too
    await setup.close()
    published: list[AlertRaised] = []
    a, b = Replica(await nats.connect(nats_url), published), Replica(await nats.connect(nats_url), published)
    await asyncio.wait_for(asyncio.gather(a.shared.ready.wait(), b.shared.ready.wait()), 10)
    yield a, b, published
    await a.close()
    await b.close()


async def until(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not seen within the time"
        await asyncio.sleep(0.01)


def regulator_alerts(published: list[AlertRaised], call_id: str) -> list[AlertRaised]:
    return [a for a in published if a.call_id == call_id and a.reason == "regulator"]


async def test_a_watch_word_cut_in_two_across_replicas_raises_its_alert_once(conn, replicas):
    a, b, published = replicas
    call = f"CALL-{uuid.uuid4().hex[:10]}"
    await a.screen(conn, call, 1, CUT[0])  # replica A screens the first half: nothing to raise yet
    assert published == []
    await until(lambda: b.context.before(call, 2) == (True, CUT[0][-30:]))  # B's mirror has it within ms
    await b.screen(conn, call, 2, "고객님 확인해 보겠습니다", speaker="agent")  # the agent's turn between: not read
    await b.screen(conn, call, 3, CUT[1])  # replica B the second
    [alert] = regulator_alerts(published, call)
    assert alert.message.startswith("[통화 중]") and alert.evidence[0].text.startswith("금감원")
    await a.screen(conn, call, 4, "금감원 민원 진짜 넣는다고요")  # the same reason again on A: not raised twice
    assert len(regulator_alerts(published, call)) == 1


async def test_a_quiet_later_turn_on_one_replica_makes_the_other_read_its_next_turn_alone(conn, replicas, nats_url):
    a, b, published = replicas
    call = f"CALL-{uuid.uuid4().hex[:10]}"
    await a.screen(conn, call, 1, CUT[0])
    await until(lambda: b.context.before(call, 2)[1] != "")
    await a.screen(conn, call, 2, "네 알겠습니다 기다릴게요")  # names nothing: a tombstone, put on the bucket
    await a.screen(conn, call, 3, "네네")  # a tombstone already: moves on on A, nothing more written
    # the tombstone reached B: turn 2's, or turn 3's if A's writer got to the call after turn 3 (its latest)
    await until(lambda: b.context.latest(call) in ((2, ""), (3, "")))
    await b.screen(conn, call, 4, CUT[1])  # read alone: "에 민원 넣을 거예요" is not turn 1's
    assert regulator_alerts(published, call) == []
    nc = await nats.connect(nats_url)
    try:
        kv = await nc.jetstream().key_value(LIVE_CONTEXT.bucket)
        # A's tombstone, once: a quiet turn after a tombstone (B's turn 4) writes nothing
        assert (await kv.get(key_of(call))).value in (b"2\t", b"3\t")
    finally:
        await nc.close()


async def test_an_older_turn_screened_late_on_another_replica_neither_reads_nor_replaces_the_tail(conn, replicas):
    a, b, published = replicas
    call = f"CALL-{uuid.uuid4().hex[:10]}"
    await a.screen(conn, call, 5, CUT[0])
    await until(lambda: b.context.before(call, 6)[1] != "")
    await b.screen(conn, call, 4, CUT[1])  # an earlier turn, redelivered late: read alone, nothing written
    assert regulator_alerts(published, call) == []
    await b.screen(conn, call, 6, CUT[1])
    assert len(regulator_alerts(published, call)) == 1


async def test_with_nats_away_screening_goes_on_and_a_replica_reads_its_own_turns(conn, nats_url):
    published: list[AlertRaised] = []
    setup = await nats.connect(nats_url)
    await ensure_topology(setup.jetstream(), consumers=())
    await setup.close()
    alone = Replica(await nats.connect(nats_url), published)
    await asyncio.wait_for(alone.shared.ready.wait(), 10)
    await alone.nc.close()  # NATS gone for this process: every write fails, nothing waits for them
    call = f"CALL-{uuid.uuid4().hex[:10]}"
    await asyncio.wait_for(alone.screen(conn, call, 1, CUT[0]), 2)
    await asyncio.wait_for(alone.screen(conn, call, 2, CUT[1]), 2)
    assert len(regulator_alerts(published, call)) == 1
    await until(lambda: alone.shared.failed >= 1)  # the writer tried, failed, logged and carried on
    assert alone.shared.queue.qsize() == 0
    alone.stop.set()
    await asyncio.wait_for(alone.task, 5)
