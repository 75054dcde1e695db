"""Live screening's call context (handlers/events.py CallContext): the end of a call's latest customer turn that
names a watch word, read with the call's next turn, and shared between the classifier's replicas through the
LIVE_CONTEXT bucket (adapters/live_context.py). The rules: per call the higher seq wins, whether decided here or
brought by the bucket's watch; a later turn naming nothing leaves a tombstone (written like a tail); an entry
expires by the local clock after the bucket's TTL; the writer puts a call's latest entry, unconditionally."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import nats.errors
import nats.js.kv
import pytest
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from services.classifier.adapters.live_context import LiveContextBucket, call_of, key_of, parse, value_of
from services.classifier.handlers.events import CallContext
from shared.bus import LIVE_CONTEXT


class Writes:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, call_id: str) -> None:
        self.calls.append(call_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ctx(limit: int = 100) -> tuple[CallContext, Writes]:
    w = Writes()
    return CallContext(write=w, limit=limit), w


def test_a_turn_is_read_with_the_tail_of_the_calls_latest_earlier_turn_and_then_replaces_it():
    c, w = ctx()
    assert c.before("A", 1) == (True, "")
    c.turn("A", 1, "그게요 금감원")
    assert c.before("A", 2) == (True, "그게요 금감원")
    c.turn("A", 2, "언론사에")  # a later turn naming a watch word replaces the tail
    assert c.before("A", 3) == (True, "언론사에") and c.latest("A") == (2, "언론사에")
    assert w.calls == ["A", "A"]


def test_a_later_turn_naming_nothing_leaves_a_tombstone_written_once_and_moved_on_locally():
    c, w = ctx()
    c.turn("A", 1, "금감원")
    c.turn("A", 2, "")
    assert c.before("A", 3) == (True, "") and c.latest("A") == (2, "")
    assert w.calls == ["A", "A"]  # the tail, then the tombstone
    c.turn("A", 3, "")  # a tombstone already: the seq moves on here, nothing more to write
    assert c.latest("A") == (3, "") and w.calls == ["A", "A"]


def test_an_older_or_repeated_turn_is_read_alone_and_changes_nothing():
    c, w = ctx()
    c.turn("A", 5, "금감원")
    assert c.before("A", 5) == (False, "") and c.before("A", 4) == (False, "")
    c.turn("A", 4, "")
    c.turn("A", 5, "소비자원")
    assert c.before("A", 6) == (True, "금감원") and w.calls == ["A"]


def test_most_turns_keep_and_write_nothing():
    c, w = ctx()
    for seq in range(1, 20):
        c.turn("quiet", seq, "")
    assert not c.calls and not w.calls


def test_the_calls_least_recently_changed_are_forgotten_first_tombstones_counting():
    c, _ = ctx(limit=2)
    c.turn("A", 1, "금감원")
    c.turn("B", 1, "금감원")
    c.turn("A", 2, "")  # A changed again (a tombstone)
    c.turn("C", 1, "변호사")
    assert list(c.calls) == ["A", "C"]


def test_values_from_the_bucket_merge_by_the_higher_seq():
    c, w = ctx()
    c.seen("A", 3, "금감원")  # replica B screened turn 3
    assert c.before("A", 4) == (True, "금감원") and not w.calls
    c.turn("A", 5, "언론")
    c.seen("A", 4, "변호사")  # B's turn 4, arriving after our turn 5: ours stands
    c.seen("A", 5, "소비자원")  # an equal seq changes nothing
    assert c.before("A", 6) == (True, "언론")
    c.seen("A", 7, "")  # B's later turn named nothing: its tombstone wins
    assert c.before("A", 8) == (True, "") and c.latest("A") == (7, "")
    c.seen("Z", 2, "")  # a tombstone for a call unknown here is kept too
    assert c.latest("Z") == (2, "") and w.calls == ["A"]  # only our own turn 5 is written


def test_an_older_put_echoed_after_a_tombstone_does_not_bring_its_tail_back():
    c, _ = ctx()
    c.turn("A", 1, "금감원")
    c.turn("A", 2, "")
    c.seen("A", 1, "금감원")  # the late echo of our own put of turn 1 (or another replica's slow write)
    assert c.before("A", 3) == (True, "") and c.latest("A") == (2, "")


def test_an_entry_older_than_the_buckets_ttl_is_absent():
    clock = Clock()
    c = CallContext(clock=clock)
    assert c.ttl_s == LIVE_CONTEXT.ttl_s
    c.turn("A", 1, "금감원")
    clock.now += LIVE_CONTEXT.ttl_s - 1
    assert c.before("A", 2) == (True, "금감원")
    clock.now += 1
    assert c.before("A", 2) == (True, "") and c.latest("A") is None and "A" not in c.calls
    c.seen("B", 1, "언론", age=LIVE_CONTEXT.ttl_s - 10)  # written elsewhere long ago: 10 s left
    assert c.before("B", 2) == (True, "언론")
    clock.now += 10
    assert c.before("B", 2) == (True, "")
    c.seen("C", 1, "언론", age=LIVE_CONTEXT.ttl_s)  # already expired
    assert "C" not in c.calls


@pytest.mark.parametrize("call_id", ["CALL-1", "call:2026.11.20/한글", "a" * 100, "..", "x y"])
def test_any_call_id_makes_a_valid_key_and_comes_back_from_it(call_id):
    key = key_of(call_id)
    assert nats.js.kv._is_key_valid(key) and call_of(key) == call_id


def test_values_carry_the_seq_and_the_tail_or_a_tombstone():
    assert parse(value_of(12, "아 그게 금감원\t에")) == (12, "아 그게 금감원\t에")
    assert parse(value_of(13, "")) == (13, "") and value_of(13, "") == b"13\t"
    assert parse(b"") is None and parse(b"x\ty") is None and parse(None) is None
    assert parse("²\t금감원".encode()) is None and parse("١\t금감원".encode()) is None  # digits int() refuses


# ------------------------------------------------------------------ the adapter, against a bucket in memory
class Bucket:
    """Enough of nats-py's KeyValue: unconditional puts, each also sent to the watch's feed."""

    def __init__(self) -> None:
        self.rev = 0
        self.last: dict[str, bytes] = {}
        self.puts: list[tuple[str, bytes]] = []
        self.feed: list[KeyValue.Entry] = []
        self.fail: Exception | None = None

    async def put(self, key: str, value: bytes) -> int:
        if self.fail is not None:
            raise self.fail
        self.rev += 1
        self.last[key] = value
        self.puts.append((key, value))
        self.feed.append(entry(key, value, self.rev))
        return self.rev


def entry(key: str, value: bytes, rev: int, op: str | None = None, created: datetime | None = None):
    return KeyValue.Entry("LIVE_CONTEXT", key, value, rev, 0, created or datetime.now(UTC), op)


class Watcher:
    """A watch's entries, then the end of the initial values (None), then more."""

    def __init__(self, entries) -> None:
        self.entries = list(entries)

    def __aiter__(self):
        return self

    async def __anext__(self):
        if not self.entries:
            raise StopAsyncIteration
        return self.entries.pop(0)


def replica(queue: int = 100) -> tuple[CallContext, LiveContextBucket]:
    c = CallContext()
    shared = LiveContextBucket(c, queue=queue)
    c.write = shared.submit
    return c, shared


async def drain(shared: LiveContextBucket, kv: Bucket) -> None:
    """What the writer does with every call queued."""
    while not shared.queue.empty():
        call_id = shared.queue.get_nowait()
        shared.queued.discard(call_id)
        await shared.write(kv, call_id)


async def test_two_quiet_turns_in_one_batch_leave_the_tombstone_of_the_later_in_the_bucket():
    c, shared = replica()
    kv = Bucket()
    c.turn("A", 1, "금감원")
    await drain(shared, kv)
    c.turn("A", 2, "")  # two quiet turns of one call, screened before the writer runs
    c.turn("A", 3, "")
    await drain(shared, kv)
    assert parse(kv.last[key_of("A")]) == (3, "")
    other, _ = replica()  # another replica's mirror, fed by the watch
    await _follow(other, kv.feed)
    assert other.before("A", 4) == (True, "") and other.latest("A") == (3, "")


async def test_the_writer_puts_the_latest_decision_once_whatever_turns_queued_it():
    c, shared = replica()
    kv = Bucket()
    c.turn("A", 1, "금감원")
    c.turn("A", 2, "언론")
    c.turn("A", 3, "")
    c.turn("B", 1, "변호사")
    assert shared.queued == {"A", "B"} and shared.queue.qsize() == 2  # a call is queued once
    await drain(shared, kv)
    assert kv.puts == [(key_of("A"), b"3\t"), (key_of("B"), value_of(1, "변호사"))]
    c.turn("A", 4, "금감원")  # once taken by the writer, a later turn queues the call again
    assert shared.queue.qsize() == 1


async def test_a_call_forgotten_before_the_writer_gets_to_it_is_not_written():
    c = CallContext(limit=1)
    shared = LiveContextBucket(c)
    c.write = shared.submit
    kv = Bucket()
    c.turn("A", 1, "금감원")
    c.turn("B", 1, "금감원")  # A evicted
    await drain(shared, kv)
    assert kv.puts == [(key_of("B"), value_of(1, "금감원"))]


async def test_a_failed_write_is_counted_and_dropped():
    c, shared = replica()
    kv = Bucket()
    kv.fail = nats.errors.ConnectionClosedError()
    c.turn("A", 1, "금감원")
    stop = asyncio.Event()
    task = asyncio.create_task(shared._write(kv, stop))
    for _ in range(100):
        if shared.failed:
            break
        await asyncio.sleep(0.001)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert shared.failed == 1 and shared.queue.empty() and not shared.queued
    assert c.before("A", 2) == (True, "금감원")  # still read here


def test_a_full_write_queue_drops_the_write_and_never_blocks_screening():
    c, shared = replica(queue=2)
    for seq in range(1, 6):
        c.turn(f"C{seq}", seq, "금감원")
    assert shared.queue.qsize() == 2 and shared.dropped == 3 and shared.queued == {"C1", "C2"}
    assert c.before("C5", 6) == (True, "금감원")  # still read here
    c.turn("C5", 7, "언론")  # dropped again: a call not queued may be tried again later
    assert shared.dropped == 4


async def _follow(c: CallContext, entries) -> LiveContextBucket:
    shared = LiveContextBucket(c)
    await shared.follow(Watcher(entries))
    return shared


async def test_the_watch_skips_a_bad_value_and_goes_on():
    c = CallContext()
    shared = await _follow(c, [
        entry(key_of("A"), "²\t금감원".encode(), 1),  # isdigit() but not int(): skipped, logged
        entry("not*base64", b"1\tx", 2),  # not a key of ours
        entry(key_of("B"), value_of(1, "언론"), 3),
        None,  # the bucket's values as they were: all in
        entry(key_of("C"), value_of(2, "변호사"), 4),
    ])
    assert shared.ready.is_set() and shared.skipped == 2 and shared.processed == 4
    assert list(c.calls) == ["B", "C"] and c.before("C", 3) == (True, "변호사")


async def test_a_value_that_cannot_be_applied_is_skipped_without_ending_the_watch():
    c = CallContext()

    def broken(*_args, **_kwargs):
        raise ValueError("boom")

    seen, c.seen = c.seen, broken
    shared = LiveContextBucket(c)
    feed = [entry(key_of("A"), value_of(1, "금감원"), 1), entry(key_of("B"), value_of(1, "언론"), 2)]
    await shared.follow(Watcher(feed[:1]))
    c.seen = seen
    await shared.follow(Watcher(feed[1:]))
    assert shared.skipped == 1 and list(c.calls) == ["B"]


async def test_the_watch_ignores_deletions_and_the_servers_ttl_markers_and_counts_a_values_age():
    c = CallContext()
    old = datetime.now(UTC) - timedelta(seconds=LIVE_CONTEXT.ttl_s - 60)
    await _follow(c, [
        entry(key_of("A"), value_of(3, "금감원"), 1),
        entry(key_of("B"), value_of(1, "언론"), 2, created=old),
        entry(key_of("A"), b"", 3, KV_DEL),
        entry(key_of("A"), b"", 4, KV_PURGE),  # a TTL marker (Nats-Marker-Reason: MaxAge)
    ])
    assert c.before("A", 4) == (True, "금감원")  # kept: it expires by the local clock
    assert 50 < c.calls["B"].at - (c.clock() - LIVE_CONTEXT.ttl_s) <= 61  # B has a minute left


async def test_a_watch_started_again_reapplies_the_latest_values_without_losing_newer_ones():
    c, shared = replica()
    await shared.follow(Watcher([entry(key_of("A"), value_of(1, "금감원"), 1)]))
    c.turn("A", 2, "")  # decided here since
    await shared.follow(Watcher([entry(key_of("A"), value_of(1, "금감원"), 1), None]))  # the watch again
    assert c.before("A", 3) == (True, "") and c.latest("A") == (2, "")


async def test_the_watch_starts_again_after_an_error_backing_off_until_it_processes_an_entry():
    c = CallContext()
    shared = LiveContextBucket(c)
    stop = asyncio.Event()
    starts: list[float] = []

    class Failing:
        async def watchall(self):
            starts.append(asyncio.get_running_loop().time())
            if len(starts) >= 3:
                stop.set()
            raise nats.errors.TimeoutError

    await asyncio.wait_for(shared._watch(Failing(), stop), 5)  # type: ignore[arg-type]
    assert len(starts) == 3 and starts[2] - starts[1] >= 0.9  # 0.5 s, then 1 s
