"""Live-call alert latency: STT segment published → AlertRaised on the bus.

Embedded NATS and PostgreSQL, intake and the classifier as processes. An open-loop
publisher sends `SttSegment`s at a fixed rate (default 2,000/s, about 5,000
concurrent calls each speaking every 2.5 s), customer and agent turns cut from the
corpus's phone transcripts; every 50th segment carries a watch word on a fresh call,
so it must raise an alert. Latency = time the alert arrives on `voc.alert.>` minus
the time its segment was published (same clock). Path: intake (mask and publish the
batch's copies, one message, while storing the segments encrypted) → `voc.call.segments` → classifier (screen;
a turn with something to record: inbox, alert row, outbox) → `voc.alert.*`; the first
hop alone (publish → masked copy on `voc.call.segments`) is printed too.

The publisher, like an STT system at this rate would, pipelines its JetStream publishes
(`publish_async`) and checks every ack at the end, instead of waiting for each ack before the
next segment: waiting made it the machine's third-largest CPU user (~40 % of a core) and made
it fall behind in bursts.

Baseline, same run: raw nats-py doing the same hops with no database — a relay that
republishes each fetched batch and a screener that does one `re.search` and publishes the
alert, each publishing a batch at once and acking it once JetStream has acked its
publishes — the floor of two hops through JetStream.

    .venv/bin/python -m bench.live_alert_latency [--rate 2000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import time
import uuid
from datetime import UTC, datetime

import nats

import tempfile
from pathlib import Path

from bench.common import embedded_stack, profile, top_costs
from bench.pipeline import Usage
from services import devrun
from services.classifier.training.corpus import CORPUS_DIR, read_jsonl
from shared.bus import ensure_topology
from shared.cloudevents import encode, envelope_for
from shared.events import SttSegment

HOT = "아니 이거 오늘 안 되면 금감원에 민원 넣을 거예요"


def turns() -> list[str]:
    out = []
    for e in read_jsonl(CORPUS_DIR / "train.jsonl"):
        if e.style == "stt":
            words = e.text.split()
            out += [" ".join(words[i:i + 6]) for i in range(0, len(words), 6)]
    return [t for t in out if "금감원" not in t and "금융감독원" not in t]


async def drive(url: str, rate: float, seconds: float, subject_out: str, prepare, publish,
                subject_mid: str | None = None) -> tuple[list[float], list[float]]:
    """Open loop at `rate`. Every message is prepared (built and encoded) before the clock
    starts, so the generator spends its time publishing, not building events. Returns the
    sorted latencies to `subject_out` and (with `subject_mid`) to the end of the first hop."""
    nc = await nats.connect(url)
    sent: dict[str, float] = {}
    got: dict[str, float] = {}
    mid: dict[str, float] = {}

    def seen_at(where: dict[str, float]):
        async def on(msg) -> None:
            if b"BENCH-" not in msg.data:
                return
            now, data = time.perf_counter(), json.loads(msg.data)
            for call in [s.get("call_id") for s in data.get("segments", [data])]:  # intake's copies come batched
                if call in sent and call not in where:
                    where[call] = now
        return on

    await nc.subscribe(subject_out, cb=seen_at(got))
    if subject_mid:
        await nc.subscribe(subject_mid, cb=seen_at(mid))
    quiet = turns()
    plan = []
    for i in range(int(rate * seconds)):
        hot = i % 50 == 0
        call = f"BENCH-{uuid.uuid4().hex[:12]}" if hot else f"QUIET-{i % 5000}"
        plan.append((call if hot else None, prepare(call, i, HOT if hot else quiet[i % len(quiet)])))
    js = nc.jetstream()  # one context: it tracks the pending publishes' acks
    start, i = time.perf_counter(), 0
    acks: list[asyncio.Future] = []
    while i < len(plan):
        due = min(len(plan), int((time.perf_counter() - start) * rate))
        while i < due:
            hot_call, payload = plan[i]
            t = time.perf_counter()
            acks.append(await publish(js, payload))
            if hot_call:
                sent[hot_call] = t
            i += 1
        await asyncio.sleep(0.002)
    failed = [r for r in await asyncio.gather(*acks, return_exceptions=True) if isinstance(r, BaseException)]
    if failed:
        print(f"  {len(failed)} of {len(acks)} publishes were not acked by JetStream, e.g. {failed[0]!r}")
    deadline = time.perf_counter() + 15
    while len(got) < len(sent) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    await nc.drain()
    lost = len(sent) - len(got)
    if lost:
        print(f"  {lost} of {len(sent)} alerts did not arrive within 15 s")
    return sorted(got[c] - sent[c] for c in got), sorted(mid[c] - sent[c] for c in mid)


def ours_prepare(call: str, seq: int, text: str) -> tuple[str, bytes, dict]:
    msg = SttSegment(call_id=call, seq=seq, speaker="customer", text=text, ts=datetime.now(UTC), affiliate="card")
    return encode(msg, envelope_for(msg, source="bench/stt"))


async def ours_publish(js, payload: tuple[str, bytes, dict]) -> asyncio.Future:
    subject, body, headers = payload
    return await js.publish_async(subject, body, headers=headers)


async def baseline(url: str, rate: float, seconds: float) -> list[float]:
    """Two JetStream hops with pull consumers and no database."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    for name, subj in (("BASE_IN", "base.in"), ("BASE_MID", "base.mid"), ("BASE_OUT", "base.out")):
        await js.add_stream(name=name, subjects=[subj])
    word = re.compile("금감원")
    stop = asyncio.Event()

    async def stage(src: str, durable: str, dst: str, keep) -> None:
        sub = await js.pull_subscribe(src, durable=durable)
        while not stop.is_set():
            try:
                msgs = await sub.fetch(200, timeout=0.05)
            except (asyncio.TimeoutError, nats.errors.TimeoutError):
                continue
            acks = [await js.publish_async(dst, m.data) for m in msgs if keep(json.loads(m.data))]
            await asyncio.gather(*acks)
            for m in msgs:
                await m.ack()

    tasks = [asyncio.create_task(stage("base.in", "relay", "base.mid", lambda d: True)),
             asyncio.create_task(stage("base.mid", "screen", "base.out", lambda d: word.search(d["text"])))]

    def prepare(call, seq, text):
        return json.dumps({"call_id": call, "seq": seq, "text": text}).encode()

    async def publish(pjs, payload) -> asyncio.Future:
        return await pjs.publish_async("base.in", payload)

    try:
        return (await drive(url, rate, seconds, "base.out", prepare, publish))[0]
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await nc.close()


def pct(lat: list[float], q: float) -> float:
    return lat[min(len(lat) - 1, int(len(lat) * q))] * 1000 if lat else float("nan")


async def main(args: argparse.Namespace) -> None:
    with embedded_stack() as stack:
        nc = await nats.connect(stack.nats_url)
        await ensure_topology(nc.jetstream())
        await nc.close()
        base = await baseline(stack.nats_url, args.rate, args.seconds)
        for svc in ("intake", "classifier"):
            devrun.start_service(stack, svc, {"LOG_LEVEL": "WARNING", "DB_POOL_SIZE": "16"})
        await devrun.wait_ready(stack, ("intake", "classifier"))
        await drive(stack.nats_url, args.rate / 4, 3, "voc.alert.>", ours_prepare, ours_publish)  # warm-up
        prof_dir = Path(tempfile.mkdtemp(prefix="moksori-live-prof-"))
        spies = profile({s: stack.procs[s].pid for s in ("intake", "classifier")}, args.seconds, prof_dir) \
            if args.profile else {}
        usage = Usage({"intake": stack.procs["intake"].pid, "classifier": stack.procs["classifier"].pid,
                       "nats-server": stack.nats.proc.pid, "postgres": stack.pg.proc.pid, "publisher": os.getpid()})
        usage.start()
        lat, first_hop = await drive(stack.nats_url, args.rate, args.seconds, "voc.alert.>", ours_prepare,
                                     ours_publish, subject_mid="voc.call.segments")
        cpu = {name: u["cpu_pct"] for name, u in usage.stop().items()}  # the wait for late alerts included
        for name, spy in spies.items():
            spy.wait(timeout=60)
            f = prof_dir / f"{name}.txt"
            print(f"profile {name}: " + ", ".join(f"{frame} {share}%" for frame, share in
                                                  (top_costs(f, 10) if f.exists() else [])))
        print(json.dumps({
            "rate_segments_per_s": args.rate, "seconds": args.seconds, "alerts_measured": len(lat),
            "ours_ms": {"p50": round(statistics.median(lat) * 1000, 1), "p99": round(pct(lat, 0.99), 1),
                        "max": round(lat[-1] * 1000, 1)} if lat else None,
            "ours_first_hop_ms": {"p50": round(statistics.median(first_hop) * 1000, 1),
                                  "p99": round(pct(first_hop, 0.99), 1)} if first_hop else None,
            "baseline_two_raw_jetstream_hops_ms": {"p50": round(statistics.median(base) * 1000, 1),
                                                  "p99": round(pct(base, 0.99), 1)} if base else None,
            "cpu_pct_of_one_core": {**cpu, "total": sum(cpu.values())},
            "target": "p99 <= 50 ms at 2,000 segments/s",
        }, indent=2))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=2000.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--profile", action="store_true", help="py-spy intake and the classifier during the measured run")
    asyncio.run(main(p.parse_args()))
