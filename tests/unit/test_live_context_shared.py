"""Live screening's call context (handlers/events.py CallContext): the end of a call's latest customer turn that
names a watch word, read with the call's next turn, and shared between the classifier's replicas through the
LIVE_CONTEXT bucket (adapters/live_context.py). The pure rules: seq order, a later turn naming nothing deletes the
tail, an older or repeated turn changes nothing, what the bucket's watch brings against what was decided here."""

from __future__ import annotations

import nats.js.errors
import pytest
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from services.classifier.adapters.live_context import LiveContextBucket, call_of, key_of, parse, value_of
from services.classifier.handlers.events import CallContext


class Writes:
    def __init__(self) -> None:
        self.ops: list[tuple[str, int, str]] = []

    def __call__(self, call_id: str, seq: int, tail: str) -> None:
        self.ops.append((call_id, seq, tail))


def ctx(limit: int = 100) -> tuple[CallContext, Writes]:
    w = Writes()
    return CallContext(write=w, limit=limit), w


def test_a_turn_is_read_with_the_tail_of_the_calls_latest_earlier_turn_and_then_replaces_it():
    c, w = ctx()
    assert c.before("A", 1) == (True, "")
    c.turn("A", 1, "그게요 금감원")
    assert c.before("A", 2) == (True, "그게요 금감원")
    c.turn("A", 2, "언론사에")  # a later turn naming a watch word replaces the tail
    assert c.before("A", 3) == (True, "언론사에")
    assert w.ops == [("A", 1, "그게요 금감원"), ("A", 2, "언론사에")]


def test_a_later_turn_naming_nothing_deletes_the_tail_so_it_is_never_read_with_a_later_turn():
    c, w = ctx()
    c.turn("A", 1, "금감원")
    c.turn("A", 2, "")
    assert c.before("A", 3) == (True, "")
    assert w.ops == [("A", 1, "금감원"), ("A", 2, "")]  # put, then delete
    c.turn("A", 3, "")  # already deleted: nothing more to write
    assert w.ops[-1] == ("A", 2, "")


def test_an_older_or_repeated_turn_is_read_alone_and_changes_nothing():
    c, w = ctx()
    c.turn("A", 5, "금감원")
    assert c.before("A", 5) == (False, "") and c.before("A", 4) == (False, "")
    c.turn("A", 4, "")
    c.turn("A", 5, "소비자원")
    assert c.before("A", 6) == (True, "금감원") and w.ops == [("A", 5, "금감원")]


def test_most_turns_keep_and_write_nothing():
    c, w = ctx()
    for seq in range(1, 20):
        c.turn("quiet", seq, "")
    assert not c.calls and not w.ops


def test_the_calls_least_recently_heard_from_are_forgotten_first():
    c, _ = ctx(limit=2)
    c.turn("A", 1, "금감원")
    c.turn("B", 1, "금감원")
    c.turn("A", 2, "언론")  # A heard from again
    c.turn("C", 1, "변호사")
    assert list(c.calls) == ["A", "C"]


def test_what_another_replica_wrote_is_read_here_a_later_turn_there_replaces_ours_an_older_one_does_not():
    c, w = ctx()
    c.seen("A", 3, "금감원", rev=10)  # replica B screened turn 3
    assert c.before("A", 4) == (True, "금감원") and not w.ops
    c.turn("A", 5, "언론")  # turn 5 here, not yet written
    c.seen("A", 4, "변호사", rev=11)  # B's turn 4, written before ours: our later turn stands
    assert c.before("A", 6) == (True, "언론") and c.pending("A", 5).rev == 11  # our put goes on from rev 11
    c.seen("A", 7, "소비자원", rev=12)  # B's later turn replaces it
    assert c.before("A", 8) == (True, "소비자원") and c.pending("A", 5) is None


def test_a_deletion_seen_removes_what_the_bucket_held_but_not_a_later_turn_decided_here():
    c, _ = ctx()
    c.seen("A", 3, "금감원", rev=10)
    c.gone("A", rev=11)  # turn 4 elsewhere named nothing
    assert c.before("A", 5) == (True, "") and "A" not in c.calls
    c.turn("B", 5, "언론")  # decided here, its put not yet in the bucket
    c.gone("B", rev=20)  # an older tail of B's deleted: ours stands, its put goes on from the deletion
    assert c.before("B", 6) == (True, "언론") and c.pending("B", 5).rev == 20


def test_our_own_writes_seen_back_and_stale_echoes():
    c, _ = ctx()
    c.turn("A", 1, "금감원")
    c.written("A", 1, rev=7)
    assert c.pending("A", 1) is None and c.calls["A"].rev == 7
    c.seen("A", 1, "금감원", rev=7)  # the echo of our own put: nothing changes
    c.turn("A", 2, "")  # a later turn naming nothing: a tombstone until the deletion is seen back
    assert c.before("A", 3) == (True, "") and c.pending("A", 2) is not None
    c.seen("A", 1, "금감원", rev=7)  # a late echo of the older put cannot bring it back
    assert c.before("A", 3) == (True, "")
    c.deleted("A", 2)
    c.gone("A", rev=8)
    assert "A" not in c.calls


def test_a_watch_starting_again_forgets_what_came_from_the_bucket_and_keeps_what_is_not_written_yet():
    c, _ = ctx()
    c.seen("A", 1, "금감원", rev=1)
    c.turn("B", 1, "언론")
    c.resync()
    assert list(c.calls) == ["B"]


@pytest.mark.parametrize("call_id", ["CALL-1", "call:2026.11.20/한글", "a" * 100, "..", "x y"])
def test_any_call_id_makes_a_valid_key_and_comes_back_from_it(call_id):
    key = key_of(call_id)
    assert nats.js.kv._is_key_valid(key) and call_of(key) == call_id


def test_values_carry_the_seq_and_the_tail():
    assert parse(value_of(12, "아 그게 금감원\t에")) == (12, "아 그게 금감원\t에")
    assert parse(b"") is None and parse(b"x\ty") is None and parse(None) is None


# ------------------------------------------------------------------ the adapter, against a bucket in memory
class Bucket:
    """Enough of nats-py's KeyValue: conditional puts and deletes by the key's last revision."""

    def __init__(self) -> None:
        self.rev = 0
        self.last: dict[str, tuple[int, bytes | None]] = {}  # key -> (revision, value or None when deleted)
        self.calls: list[str] = []

    def _check(self, key: str, last: int | None) -> None:
        if last is not None and self.last.get(key, (0, None))[0] != last:
            raise nats.js.errors.KeyWrongLastSequenceError(description="wrong last sequence")

    async def create(self, key, value):
        self.calls.append("create")
        rev, v = self.last.get(key, (0, None))
        if v is not None:
            raise nats.js.errors.KeyWrongLastSequenceError(description="wrong last sequence")
        return await self._put(key, value)

    async def update(self, key, value, last=None):
        self.calls.append("update")
        self._check(key, last)
        return await self._put(key, value)

    async def _put(self, key, value):
        self.rev += 1
        self.last[key] = (self.rev, value)
        return self.rev

    async def delete(self, key, last=None):
        self.calls.append("delete")
        if last:
            if self.last.get(key, (0, None))[0] != last:
                raise nats.js.errors.APIError(code=400, err_code=10071, description="wrong last sequence")
        self.rev += 1
        self.last[key] = (self.rev, None)
        return True

    async def get(self, key):
        self.calls.append("get")
        rev, v = self.last.get(key, (0, None))
        if v is None:
            raise nats.js.errors.KeyNotFoundError
        return KeyValue.Entry("LIVE_CONTEXT", key, v, rev, None, None, None)


async def test_the_writer_puts_and_deletes_only_the_latest_turn_decided_here():
    c = CallContext()
    shared = LiveContextBucket(c)
    c.write = shared.submit
    kv = Bucket()
    c.turn("A", 1, "금감원")
    c.turn("A", 2, "언론")  # supersedes turn 1 before the writer gets to it
    for _ in range(shared.queue.qsize()):
        await shared.write(kv, *shared.queue.get_nowait())
    assert kv.calls == ["create"] and parse(kv.last[key_of("A")][1]) == (2, "언론")
    assert c.pending("A", 2) is None and c.calls["A"].rev == 1
    c.turn("A", 3, "")
    await shared.write(kv, *shared.queue.get_nowait())
    assert kv.calls[-1] == "delete" and kv.last[key_of("A")][1] is None


async def test_of_two_replicas_writing_a_call_at_once_the_later_turn_stays():
    kv = Bucket()
    await kv.create(key_of("A"), value_of(7, "변호사"))  # another replica's turn 7, not yet seen here
    c = CallContext()
    shared = LiveContextBucket(c)
    c.turn("A", 6, "금감원")  # our turn 6: refused (the key exists), settled by the bucket's turn 7
    await shared.write(kv, "A", 6)
    assert parse(kv.last[key_of("A")][1]) == (7, "변호사") and c.before("A", 8) == (True, "변호사")
    c.turn("A", 9, "언론")  # our later turn replaces it
    await shared.write(kv, "A", 9)
    assert parse(kv.last[key_of("A")][1]) == (9, "언론")
    await kv.update(key_of("A"), value_of(8, "소비자원"))  # an older turn written elsewhere meanwhile
    c.turn("A", 10, "금감원에")
    await shared.write(kv, "A", 10)  # refused (revision moved), then replaces turn 8 once
    assert parse(kv.last[key_of("A")][1]) == (10, "금감원에")
    assert kv.calls[-3:] == ["update", "get", "update"]


def test_the_watch_applies_puts_deletions_and_the_servers_age_markers():
    c = CallContext()
    shared = LiveContextBucket(c)

    def entry(key, value, rev, op=None):
        return KeyValue.Entry("LIVE_CONTEXT", key, value, rev, 0, None, op)

    shared.apply(entry(key_of("A"), value_of(3, "금감원"), 1))
    shared.apply(entry(key_of("B"), value_of(1, "언론"), 2))
    shared.apply(entry("not*base64", b"1\tx", 3))  # not a key of ours: ignored
    assert c.before("A", 4) == (True, "금감원") and c.before("B", 2) == (True, "언론")
    shared.apply(entry(key_of("A"), b"", 4, KV_DEL))
    shared.apply(entry(key_of("B"), b"", 5, KV_PURGE))  # its 15 minutes over (Nats-Marker-Reason: MaxAge)
    assert not c.calls


def test_a_full_write_queue_drops_the_write_and_never_blocks_screening():
    c = CallContext()
    shared = LiveContextBucket(c, queue=2)
    c.write = shared.submit
    for seq in range(1, 6):
        c.turn(f"C{seq}", seq, "금감원")
    assert shared.queue.qsize() == 2 and shared.dropped == 3
    assert c.before("C5", 6) == (True, "금감원")  # still read here
