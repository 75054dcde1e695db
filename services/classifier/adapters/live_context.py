"""Live screening's call context, shared between the classifier's replicas through the JetStream key-value
bucket LIVE_CONTEXT (shared/bus.py). The handler's CallContext (services/classifier/handlers/events.py) is the
pure side: screening reads it, synchronously, and merges every value by one rule, the higher seq per call wins.
Here:

- a watch of the whole bucket (nats-py's `KeyValue.watchall`: an ordered consumer, its latest value per key
  first, then every change) feeds every value to the CallContext (`seen`), so each process mirrors what every
  replica wrote. The merge being monotonic, a watch started again only brings the latest values once more: the
  mirror is never cleared. A value that does not parse is logged and skipped, never stopping the watch.
  Deletions and purges (the server's markers of a key's TTL over, as nats-py's watch maps them) are ignored:
  no replica deletes, and the CallContext forgets an entry itself once it is older than the bucket's TTL;
- one background writer puts "<seq>\t<tail>" under a call ("<seq>\t": a tombstone, the turn named no watch
  word), unconditionally, from a small bounded queue of call ids (each queued once at most), after screening:
  nothing on the alert path waits for the bucket. It writes the call's entry as it is when the writer gets to
  it, the latest turn decided whichever turn queued it. A write that fails (NATS away, the bucket full or
  missing) or finds the queue full is logged, counted and dropped: the call's next turn is then read alone on
  the other replicas, and this replica still reads it with what it screened itself.

The limit of unconditional puts: two replicas writing the same call within milliseconds can leave the bucket's
value at the lower seq. Mirrors that saw both keep the higher; a mirror started afterwards reads the lower until
the call's next turn: at worst one cut's alert missed, or one turn read with a stale tail.

Keys: the call id's UTF-8 in unpadded URL-safe base64 ([A-Za-z0-9_-], valid in any key whatever the call id
holds), so the watch gives the call id back.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from datetime import UTC, datetime

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from shared.bus import LIVE_CONTEXT, BucketSpec

log = logging.getLogger(__name__)

QUEUE = 4096  # calls waiting for the writer; beyond it a write is dropped (and counted in the warning)
TIMEOUT_S = 1.0  # one bucket request; a write is worth nothing seconds later
WARN_EVERY_S = 30.0
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
    """(seq, tail) of a value, tail "" for a tombstone; None if it is not one of ours."""
    seq, tab, tail = (value or b"").decode(errors="replace").partition("\t")
    return (int(seq), tail) if tab and seq.isascii() and seq.isdigit() else None


def age_of(entry: KeyValue.Entry) -> float:
    """How long ago the entry was written (the server's timestamp; 0 if unknown or in the future)."""
    created = entry.created
    if not isinstance(created, datetime):
        return 0.0
    return max((datetime.now(UTC) - created).total_seconds(), 0.0)


class LiveContextBucket:
    """The mirror and the writer of one classifier process (see the module's docstring). `submit` is the
    CallContext's `write`: screening calls it, it never blocks."""

    def __init__(self, context, spec: BucketSpec = LIVE_CONTEXT, queue: int = QUEUE) -> None:
        self.context = context
        self.spec = spec
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue)
        self.queued: set[str] = set()  # the calls in the queue: a call is queued once at most
        self.ready = asyncio.Event()  # the watch has brought the bucket's values as they were when it began
        self.dropped = 0
        self.failed = 0
        self.skipped = 0  # values from the bucket that did not parse or could not be applied
        self.processed = 0  # the watch's entries processed (applied or skipped)
        self._warned = 0.0

    def submit(self, call_id: str) -> None:
        """Ask for the call's entry to be put; the writer puts it as it is then (a later turn decided meanwhile
        with it)."""
        if call_id in self.queued:
            return
        try:
            self.queue.put_nowait(call_id)
        except asyncio.QueueFull:
            self.dropped += 1
            self._warn("the live context's write queue is full")
            return
        self.queued.add(call_id)

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
        """Follow the bucket; started again with a back-off after an error, the back-off starting over only
        once the watch had processed an entry (a watch failing at once does not spin)."""
        delay = 0.5
        while not stop.is_set():
            watcher = None
            processed = self.processed
            try:
                watcher = await kv.watchall()
                await self.follow(watcher)
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
            if self.processed > processed:
                delay = 0.5
            await _sleep(stop, delay)
            delay = min(delay * 2, 5.0)

    async def follow(self, watcher) -> None:
        """Apply the watch's entries until it ends; one that cannot be applied is logged and skipped."""
        async for entry in watcher:
            if entry is None:  # the bucket's values as they were: all in
                self.ready.set()
                continue
            try:
                self.apply(entry)
            except Exception as exc:  # noqa: BLE001 - one bad value is skipped, the watch goes on
                self.skipped += 1
                self._warn(f"a value of bucket {self.spec.bucket} could not be applied ({exc!r}); skipped")
            self.processed += 1

    def apply(self, entry: KeyValue.Entry) -> None:
        if entry.operation in (KV_DEL, KV_PURGE):
            return  # a key's TTL over (no replica deletes): the CallContext forgets it by its own clock
        call_id = call_of(entry.key)
        kept = parse(entry.value)
        if call_id is None or kept is None:
            self.skipped += 1
            self._warn(f"a value of bucket {self.spec.bucket} is not a call's seq and tail; skipped")
            return
        self.context.seen(call_id, kept[0], kept[1], age_of(entry))

    # ----------------------------------------------------------------- the writer
    async def _write(self, kv: KeyValue, stop: asyncio.Event) -> None:
        while not stop.is_set():
            call_id = await self.queue.get()
            self.queued.discard(call_id)  # a turn decided from now on queues the call again
            try:
                await self.write(kv, call_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a write lost costs one cut's context, never screening
                self.failed += 1
                self._warn(f"writing the live context of a call failed ({exc!r}); its next turn may be read "
                           "alone on another replica")

    async def write(self, kv: KeyValue, call_id: str) -> None:
        """Put the call's latest (seq, tail) as the CallContext holds it now; nothing if it was forgotten."""
        latest = self.context.latest(call_id)
        if latest is not None:
            await kv.put(key_of(call_id), value_of(*latest))

    def _warn(self, what: str) -> None:
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY_S:
            self._warned = now
            log.warning("%s (writes dropped so far: %d queue full, %d failed; %d values skipped)", what,
                        self.dropped, self.failed, self.skipped)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass
