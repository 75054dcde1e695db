"""Live screening's call context, shared between the classifier's replicas through the JetStream key-value
bucket LIVE_CONTEXT (shared/bus.py). The handler's CallContext (services/classifier/handlers/events.py) is the
pure side: screening reads it, synchronously, and decides what to put or delete. Here:

- a watch of the whole bucket (nats-py's `KeyValue.watchall`: an ordered consumer, its latest value per key
  first, then every change) keeps this process's CallContext a mirror of what every replica wrote;
- one background writer puts a call's "<seq>\\t<tail>" (or deletes it) under the call, from a small bounded
  queue, after screening: nothing on the alert path waits for the bucket. A write that fails (NATS away, the
  bucket full or missing) is logged and dropped: the call's next turn is then read alone on the other
  replicas, and this replica still reads it with what it screened itself. Writes are conditional on the
  revision known here (Nats-Expected-Last-Subject-Sequence), so of two replicas writing a call at once the
  later turn stays: a write refused for another's is settled by reading the bucket's value, the higher seq
  winning.

Keys: the call id's UTF-8 in unpadded URL-safe base64 ([A-Za-z0-9_-], valid in any key whatever the call id
holds), so the watch gives the call id back.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from shared.bus import LIVE_CONTEXT, BucketSpec

log = logging.getLogger(__name__)

QUEUE = 4096  # writes waiting for the writer; beyond it a write is dropped (and counted in the warning)
TIMEOUT_S = 1.0  # one bucket request; a write is worth nothing seconds later
WARN_EVERY_S = 30.0
WRONG_LAST = (10071, 10164)  # JetStream: wrong last sequence (a conditional write refused)
FAILURES = (nats.errors.Error, asyncio.TimeoutError, OSError)


def key_of(call_id: str) -> str:
    return base64.urlsafe_b64encode(call_id.encode()).rstrip(b"=").decode()


def call_of(key: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def value_of(seq: int, tail: str) -> bytes:
    return f"{seq}\t{tail}".encode()


def parse(value: bytes | None) -> tuple[int, str] | None:
    seq, tab, tail = (value or b"").decode(errors="replace").partition("\t")
    return (int(seq), tail) if tab and seq.isdigit() else None


class LiveContextBucket:
    """The mirror and the writer of one classifier process (see the module's docstring). `submit` is the
    CallContext's `write`: screening calls it, it never blocks."""

    def __init__(self, context, spec: BucketSpec = LIVE_CONTEXT, queue: int = QUEUE) -> None:
        self.context = context
        self.spec = spec
        self.queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue(maxsize=queue)
        self.ready = asyncio.Event()  # the watch has brought the bucket's values as they were when it began
        self.dropped = 0
        self.failed = 0
        self._warned = 0.0

    def submit(self, call_id: str, seq: int, tail: str) -> None:
        """A put (a tail) or a deletion (""), written by the writer from what the context holds then: a call's
        later turn decided meanwhile supersedes it."""
        try:
            self.queue.put_nowait((call_id, seq))
        except asyncio.QueueFull:
            self.dropped += 1
            self._warn("the live context's write queue is full")

    async def run(self, nc: NatsClient, stop: asyncio.Event) -> None:
        """The watch and the writer, until `stop`; waits for the bucket (and NATS) while they are away."""
        js = nc.jetstream(timeout=TIMEOUT_S)
        delay = 0.5
        kv: KeyValue | None = None
        while kv is None and not stop.is_set():
            try:
                kv = await js.key_value(self.spec.bucket)
            except (*FAILURES, nats.js.errors.BucketNotFoundError) as exc:
                self._warn(f"bucket {self.spec.bucket} not available ({exc!r}); calls' turns are read alone "
                           "across replicas until it is")
                await _sleep(stop, delay)
                delay = min(delay * 2, 5.0)
        if kv is None:
            return
        tasks = [asyncio.create_task(self._watch(kv, stop), name="live-context-watch"),
                 asyncio.create_task(self._write(kv, stop), name="live-context-writer")]
        try:
            await stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # ----------------------------------------------------------------- the mirror
    async def _watch(self, kv: KeyValue, stop: asyncio.Event) -> None:
        delay = 0.5
        while not stop.is_set():
            watcher = None
            try:
                watcher = await kv.watchall()
                self.context.resync()
                delay = 0.5
                async for entry in watcher:
                    if entry is None:  # the bucket's values as they were: all in
                        self.ready.set()
                        continue
                    self.apply(entry)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the watch must come back, whatever went wrong
                self._warn(f"watching bucket {self.spec.bucket} failed ({exc!r}); starting it again")
            finally:
                if watcher is not None:
                    try:
                        await watcher.stop()
                    except Exception:  # noqa: BLE001 - unsubscribing a dead subscription
                        pass
            await _sleep(stop, delay)
            delay = min(delay * 2, 5.0)

    def apply(self, entry: KeyValue.Entry) -> None:
        call_id = call_of(entry.key)
        if call_id is None or entry.revision is None:
            return
        if entry.operation in (KV_DEL, KV_PURGE):
            self.context.gone(call_id, entry.revision)
            return
        kept = parse(entry.value)
        if kept is not None:
            self.context.seen(call_id, kept[0], kept[1], entry.revision)

    # ----------------------------------------------------------------- the writer
    async def _write(self, kv: KeyValue, stop: asyncio.Event) -> None:
        while not stop.is_set():
            call_id, seq = await self.queue.get()
            try:
                await self.write(kv, call_id, seq)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a write lost costs one cut's context, never screening
                self.failed += 1
                self._warn(f"writing the live context of a call failed ({exc!r}); its next turn may be read "
                           "alone on another replica")

    async def write(self, kv: KeyValue, call_id: str, seq: int) -> None:
        """Put or delete the call's turn `seq`, if it is still the latest decided here and not in the bucket. A
        conditional write refused (another replica wrote the call since the revision known here) is settled by
        the bucket's value: a later turn there stays; an earlier one is replaced, once."""
        key = key_of(call_id)
        for _ in range(2):
            kept = self.context.pending(call_id, seq)
            if kept is None:
                return
            try:
                if kept.tail:
                    value = value_of(seq, kept.tail)
                    rev = await (kv.update(key, value, last=kept.rev) if kept.rev else kv.create(key, value))
                    self.context.written(call_id, seq, rev)
                else:
                    await kv.delete(key, last=kept.rev)
                    self.context.deleted(call_id, seq)
                return
            except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.APIError) as exc:
                if not isinstance(exc, nats.js.errors.KeyWrongLastSequenceError) and exc.err_code not in WRONG_LAST:
                    raise
            try:
                there = await kv.get(key)
            except nats.js.errors.KeyNotFoundError:  # deleted meanwhile (by a turn of unknown seq): leave it
                return
            stored = parse(there.value)
            if stored is None or there.revision is None:
                return
            self.context.seen(call_id, stored[0], stored[1], there.revision)  # a later turn there is taken

    def _warn(self, what: str) -> None:
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY_S:
            self._warned = now
            log.warning("%s (writes dropped so far: %d queue full, %d failed)", what, self.dropped, self.failed)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass
