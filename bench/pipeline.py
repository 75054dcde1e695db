"""End-to-end pipeline benchmark: HTTP accept → intake → classifier → routing → `CaseRouted`.

The four services run as their own processes against embedded NATS and PostgreSQL started by
the benchmark, everything on this machine. An open-loop generator offers realistic Korean VOCs
(the classifier corpus's held-out texts, every register) over HTTP at fixed rates. For each rate
it prints, in the same run:

- latency from the scheduled HTTP send to the moment the case's first `CaseRouted` is stored
  in JetStream (the stream's own timestamp), p50 / p99 / p99.9;
- sustained throughput: routed cases per second from the first send to the last case routed;
- CPU (% of one core) and peak RSS per service, NATS and PostgreSQL;
- the baseline: plain nats-py + asyncpg doing the same insert → publish → consume → update →
  publish path at the same offered rate, measured the same way, and ours / baseline.

    .venv/bin/python -m bench.pipeline [--rates 200,500,1000,1500] [--seconds 10] [--profile] [--stages]
                                       [--plot bench/pipeline_latency.png]

`--profile` records the services with py-spy during the 500/s run (`--profile-rate` picks another) and prints
where their time goes.
`--stages` also times each hop (accept → received → classified → routed, each from the scheduled send) and
how long the client waited for intake's answer.
`--pg-stats` loads pg_stat_statements and prints, per rate, the statements PostgreSQL spent its time
on: calls per accepted case, mean and total execution time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg
import nats
import psutil
from nats.js import api

from bench import httpload
from bench.common import embedded_stack, profile, top_costs
from services import devrun
from services.classifier.training.corpus import REGISTER_CHANNEL

CORPUS = Path(__file__).resolve().parent.parent / "services" / "classifier" / "corpus" / "test.jsonl"
SERVICES = ("intake", "classifier", "routing", "feedback")


def load_vocs() -> list[dict]:
    """Held-out corpus texts in every register, as the channel each register comes from submits them."""
    out = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        ex = json.loads(line)
        channel = REGISTER_CHANNEL.get(ex.get("register"))
        if channel:
            voc = {"channel": channel, "text": ex["text"]}
            if channel == "chat":  # an escalated chat brings the conversation before it
                voc["transcript"] = [{"speaker": "bot", "text": "무엇을 도와드릴까요?"},
                                     {"speaker": "customer", "text": ex["text"]}]
            if channel == "branch":
                voc["staff_id"] = "gangnam-0412"
            out.append(voc)
    return out


@dataclass
class Run:
    rate: float
    sent: int = 0
    accepted: int = 0
    routed: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    throughput: float = 0.0
    usage: dict[str, dict[str, float]] = field(default_factory=dict)
    stages: dict[str, dict[str, float]] = field(default_factory=dict)

    def pct(self, q: float) -> float:
        lat = sorted(self.latencies_ms)
        return round(lat[min(len(lat) - 1, int(len(lat) * q))], 1) if lat else float("nan")

    def summary(self) -> dict:
        return {"offered_per_s": self.rate, "sent": self.sent, "accepted": self.accepted, "routed": self.routed,
                "sustained_per_s": round(self.throughput), "p50_ms": self.pct(0.50), "p99_ms": self.pct(0.99),
                "p999_ms": self.pct(0.999)}


class Usage:
    """CPU seconds and peak RSS of a set of process trees between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.cpu0: dict[str, float] = {}
        self.peak: Counter = Counter()
        self.t0 = 0.0

    def _tree(self, name: str) -> list[psutil.Process]:
        p = self.procs[name]
        if p.pid == os.getpid():  # this process: the load client alone, not the services it started
            return [p]
        return [p, *p.children(recursive=True)]

    def _cpu(self, name: str) -> float:
        total = 0.0
        for p in self._tree(name):
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def sample_rss(self) -> None:
        for name in self.procs:
            rss = 0
            for p in self._tree(name):
                try:
                    rss += p.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            self.peak[name] = max(self.peak[name], rss)

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.cpu0 = {n: self._cpu(n) for n in self.procs}
        self.peak.clear()

    def stop(self) -> dict[str, dict[str, float]]:
        wall = time.perf_counter() - self.t0
        self.sample_rss()  # the load loop samples during a run; an idle period has only this sample
        return {n: {"cpu_pct": round(100 * (self._cpu(n) - self.cpu0[n]) / wall),
                    "rss_mb": round(self.peak[n] / 2**20)} for n in self.procs}


async def _quiet(exc: Exception) -> None:
    """The watchers' ordered consumers complain when the stack stops under them; the figures are already out."""


async def watch(js, subject: str, first_seen: dict[str, float], key: str) -> None:
    """Record, per case, when its first message on `subject` was stored (the stream's timestamp)."""
    sub = await js.subscribe(subject, ordered_consumer=True, deliver_policy=api.DeliverPolicy.NEW)
    try:
        async for msg in sub.messages:
            case = msg.headers.get(key) if msg.headers else None
            if case and case not in first_seen:
                first_seen[case] = msg.metadata.timestamp.timestamp()
    finally:
        if not js._nc.is_closed:
            await sub.unsubscribe()


async def wait_all(want: set[str], seen: dict[str, float], usage: Usage | None, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not want <= seen.keys() and time.perf_counter() < deadline:
        if usage:
            usage.sample_rss()
        await asyncio.sleep(0.05)


def to_wall(perf: float, anchor: tuple[float, float]) -> float:
    return anchor[1] + (perf - anchor[0])


def finish(run: Run, sent_wall: dict[str, float], seen: dict[str, float], start_wall: float) -> None:
    done = [c for c in sent_wall if c in seen]
    run.routed = len(done)
    run.latencies_ms = [(seen[c] - sent_wall[c]) * 1000 for c in done]
    if done:
        run.throughput = len(done) / max(1e-9, max(seen[c] for c in done) - start_wall)


async def ours(stack: devrun.Stack, vocs: list[dict], rate: float, seconds: float, usage: Usage,
               drain_s: float, with_stages: bool = False) -> Run:
    nc = await nats.connect(stack.nats_url, error_cb=_quiet)
    seen: dict[str, float] = {}
    # where the time goes, with --stages: two more streams watched, which costs NATS and this process
    # CPU that the system itself does not spend, so it is off unless asked for
    stages: dict[str, dict[str, float]] = {"received": {}, "classified": {}} if with_stages else {}
    watchers = [asyncio.create_task(watch(nc.jetstream(), "voc.routed.>", seen, "ce-subject")),
                *(asyncio.create_task(watch(nc.jetstream(), f"voc.{k}", v, "ce-subject")) for k, v in stages.items())]
    await asyncio.sleep(0.3)
    run = Run(rate)
    usage.start()
    anchor = (time.perf_counter(), time.time())
    answers = await httpload.open_loop(stack.url("intake"), {"X-Api-Key": stack.api_key}, "/v1/voc",
                                       lambda i: vocs[i % len(vocs)], rate, seconds, connections=128)
    refused = Counter((a.status, a.payload[:200]) for a in answers if a.status != 202)
    if refused:
        raise SystemExit(f"intake refused {sum(refused.values())} VOCs: {refused.most_common(3)}")
    sent_wall = {json.loads(a.payload)["case_id"]: to_wall(a.scheduled, anchor) for a in answers if a.status == 202}
    run.sent, run.accepted = len(answers), len(sent_wall)
    await wait_all(set(sent_wall), seen, usage, drain_s)
    run.usage = usage.stop()
    finish(run, sent_wall, seen, anchor[1])
    hops = (("accept→received", sent_wall, stages["received"]), ("received→classified", stages["received"],
            stages["classified"]), ("classified→routed", stages["classified"], seen)) if with_stages else ()
    def p50_p99(ms: list[float]) -> dict[str, float]:
        ms.sort()
        return {"p50_ms": round(ms[len(ms) // 2], 1), "p99_ms": round(ms[int(len(ms) * .99)], 1)}

    if with_stages:  # how long the client waited for intake's answer (queueing for a connection included)
        run.stages["http answer"] = p50_p99([(a.answered - a.scheduled) * 1000 for a in answers])
    for name, a, b in hops:
        lat = [(b[c] - a[c]) * 1000 for c in sent_wall if c in a and c in b]
        if lat:
            run.stages[name] = p50_p99(lat)
    for w in watchers:
        w.cancel()
    await nc.close()
    return run


BASELINE_DDL = """
CREATE SCHEMA IF NOT EXISTS bench;
CREATE TABLE IF NOT EXISTS bench.cases (id uuid PRIMARY KEY, channel text NOT NULL, text text NOT NULL,
                                        status text NOT NULL, received_at timestamptz NOT NULL,
                                        routed_at timestamptz);
"""


async def baseline(stack: devrun.Stack, vocs: list[dict], rate: float, seconds: float, drain_s: float) -> Run:
    """Plain nats-py + asyncpg, the same path without HTTP or the services: insert the case and
    publish it (awaiting the JetStream ack); a durable pull consumer fetches batches, updates the
    cases in one statement, publishes each routed event, acks."""
    pool = await asyncpg.create_pool(stack.database_url, min_size=8, max_size=16)
    await pool.execute(BASELINE_DDL)
    nc = await nats.connect(stack.nats_url, error_cb=_quiet)
    js = nc.jetstream()
    stream = f"BENCH_{uuid.uuid4().hex[:6].upper()}"
    await js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"], storage=api.StorageType.FILE)
    seen: dict[str, float] = {}
    watcher = asyncio.create_task(watch(js, f"{stream.lower()}.routed", seen, "case"))
    sub = await js.pull_subscribe(f"{stream.lower()}.in", durable="router", stream=stream)
    stop = asyncio.Event()

    async def router() -> None:
        while not stop.is_set():
            try:
                msgs = await sub.fetch(200, timeout=0.05)
            except (nats.errors.TimeoutError, asyncio.TimeoutError):
                continue
            ids = [uuid.UUID(m.headers["case"]) for m in msgs]
            await pool.execute("UPDATE bench.cases SET status = 'routed', routed_at = now() WHERE id = ANY($1)", ids)
            await asyncio.gather(*(js.publish(f"{stream.lower()}.routed", m.data,
                                              headers={"case": m.headers["case"], "Nats-Msg-Id": f"r:{m.headers['case']}"})
                                   for m in msgs))
            await asyncio.gather(*(m.ack() for m in msgs))

    routing = asyncio.create_task(router())
    await asyncio.sleep(0.3)
    run = Run(rate)
    sent_wall: dict[str, float] = {}
    anchor = (time.perf_counter(), time.time())

    async def one(i: int, scheduled: float) -> None:
        voc, case = vocs[i % len(vocs)], uuid.uuid4()
        await pool.execute("INSERT INTO bench.cases VALUES ($1, $2, $3, 'received', now())", case, voc["channel"],
                           voc["text"])
        await js.publish(f"{stream.lower()}.in", json.dumps(voc, ensure_ascii=False).encode(),
                         headers={"case": str(case), "Nats-Msg-Id": str(case)})
        sent_wall[str(case)] = to_wall(scheduled, anchor)

    tasks = []
    for i in range(int(rate * seconds)):
        at = anchor[0] + i / rate
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        tasks.append(asyncio.create_task(one(i, at)))
    await asyncio.gather(*tasks)
    run.sent = run.accepted = len(sent_wall)
    await wait_all(set(sent_wall), seen, None, drain_s)
    finish(run, sent_wall, seen, anchor[1])
    stop.set()
    await routing
    watcher.cancel()
    await js.delete_stream(stream)
    await nc.close()
    await pool.close()
    return run


def plot(runs: list[Run], base: list[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for data, label, style in ((runs, "Moksori (HTTP → CaseRouted)", "o-"), (base, "raw nats-py + asyncpg", "s--")):
        x = [r.rate for r in data]
        ax.plot(x, [r.pct(0.5) for r in data], style, label=f"{label} p50")
        ax.plot(x, [r.pct(0.99) for r in data], style, alpha=0.6, label=f"{label} p99")
    ax.set_yscale("log")
    ax.set_xlabel("offered load (VOC/s)")
    ax.set_ylabel("latency (ms, log)")
    ax.set_title(f"accept → routed latency vs offered load, 2 cores, {datetime.now():%Y-%m-%d}")
    ax.axhline(100, color="grey", lw=0.8, ls=":")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


PG_STATS_RESET = "SELECT pg_stat_statements_reset()"
PG_STATS_TOP = """
SELECT calls, total_exec_time, rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS query
  FROM pg_stat_statements
 WHERE query NOT ILIKE '%pg_stat_statements%'
 ORDER BY total_exec_time DESC LIMIT $1"""

PG_STATS_TOTAL = """
SELECT sum(calls)::bigint AS calls, sum(total_exec_time)::float8 AS total_exec_time, sum(rows)::bigint AS rows, '(all statements)' AS query
  FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat_statements%'"""


async def pg_stats(stack: devrun.Stack, cases: int, reset_after: bool = True) -> list[dict]:
    """The statements that took PostgreSQL's time since the last reset, per accepted case."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch(PG_STATS_TOP, 15)
        total = await conn.fetchrow(PG_STATS_TOTAL)
        if reset_after:
            await conn.execute(PG_STATS_RESET)
    finally:
        await conn.close()
    return [{"calls_per_case": round(r["calls"] / max(cases, 1), 3),
             "mean_us": round(1000 * r["total_exec_time"] / max(r["calls"], 1)),
             "total_ms": round(r["total_exec_time"]), "query": r["query"]} for r in [*rows, total]]


async def main(args: argparse.Namespace) -> None:
    vocs = load_vocs()
    pg_settings = ("shared_preload_libraries=pg_stat_statements",) if args.pg_stats else ()
    with embedded_stack(pg_settings) as stack:
        for svc in SERVICES:
            devrun.start_service(stack, svc, {"LOG_LEVEL": "WARNING",
                                              "HTTP_WORKERS": str(args.intake_workers if svc == "intake" else 1)})
        await devrun.wait_ready(stack, timeout=120)
        await devrun.issue_dev_key(stack, rate_per_s=100_000.0)
        pids = {svc: stack.procs[svc].pid for svc in SERVICES}
        pids |= {"nats-server": stack.nats.proc.pid, "postgres": stack.pg.proc.pid, "load-client": os.getpid()}
        usage = Usage(pids)
        await ours(stack, vocs, 100, 3, usage, 60)  # warm-up: pools, prepared statements, Kiwi caches
        await asyncio.sleep(3)  # let the warm-up's work finish
        usage.start()
        await asyncio.sleep(args.idle)  # no load: what the system costs when nothing happens (polling, timers)
        idle = usage.stop()
        print(json.dumps({"idle_s": args.idle, "usage": idle}), flush=True)
        if args.pg_stats:
            conn = await asyncpg.connect(stack.database_url)
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await conn.close()
        runs, base = [], []
        for rate in args.rates:
            prof_dir = None
            if args.profile and rate == args.profile_rate:
                prof_dir = Path(tempfile.mkdtemp(prefix="moksori-pyspy-"))
                spies = profile({s: pids[s] for s in SERVICES}, args.seconds, prof_dir)
            if args.pg_stats:
                await pg_stats(stack, 1)  # a clean slate: only this rate's statements are counted
            run = await ours(stack, vocs, rate, args.seconds, usage, args.drain, args.stages)
            runs.append(run)
            print(json.dumps({"ours": run.summary(), "stages": run.stages, "usage": run.usage}, ensure_ascii=False), flush=True)
            if args.pg_stats:
                for st in await pg_stats(stack, run.accepted):
                    print(json.dumps({"pg_statement": st, "at_rate": rate}, ensure_ascii=False), flush=True)
            if prof_dir:
                for name, p in spies.items():
                    p.wait(timeout=60)
                    f = prof_dir / f"{name}.txt"
                    costs = top_costs(f) if f.exists() else []
                    print(json.dumps({"profile": name, "at_rate": rate, "top_leaf_frames_pct": costs},
                                     ensure_ascii=False), flush=True)
            b = await baseline(stack, vocs, rate, args.seconds, args.drain)
            base.append(b)
            print(json.dumps({"baseline": b.summary(),
                              "ours_over_baseline_throughput": round(run.throughput / b.throughput, 2)
                              if b.throughput else None}), flush=True)
        print("\n| offered VOC/s | ours sustained | ours p50 / p99 / p99.9 ms | baseline sustained | "
              "baseline p50 / p99 ms | ours / baseline |")
        print("|---|---|---|---|---|---|")
        for r, b in zip(runs, base):
            print(f"| {r.rate:,.0f} | {r.throughput:,.0f} | {r.pct(.5)} / {r.pct(.99)} / {r.pct(.999)} | "
                  f"{b.throughput:,.0f} | {b.pct(.5)} / {b.pct(.99)} | {r.throughput / b.throughput:.2f} |")
        print("\nCPU % of one core / peak RSS MB per process, per offered rate:")
        print("    idle  " + "  ".join(f"{n} {u['cpu_pct']}%/{u['rss_mb']}MB" for n, u in idle.items()))
        for r in runs:
            print(f"  {r.rate:>6,.0f}/s  " + "  ".join(f"{n} {u['cpu_pct']}%/{u['rss_mb']}MB"
                                                    for n, u in r.usage.items()))
        if args.plot:
            plot(runs, base, args.plot)
            print(f"\nplot: {args.plot}")


def parse_rates(text: str) -> list[float]:
    try:
        rates = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--rates: {text!r} is not a comma-separated list of numbers") from None
    if not rates or any(r <= 0 for r in rates):
        raise argparse.ArgumentTypeError("--rates: every rate must be positive")
    return rates


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--idle", type=float, default=10.0, help="seconds of no load measured first (CPU at rest)")
    p.add_argument("--rates", type=parse_rates, default=[200.0, 500.0, 1000.0, 1500.0])
    p.add_argument("--seconds", type=float, default=10.0, help="seconds of offered load per rate")
    p.add_argument("--drain", type=float, default=120.0, help="seconds to wait for the backlog after sending")
    p.add_argument("--intake-workers", type=int, default=1,
                   help="intake's HTTP worker processes (on 2 cores shared by everything, a second one only "
                        "duplicates its consumers and relay and splits its batches)")
    p.add_argument("--stages", action="store_true",
                   help="also time accept→received→classified→routed (watches two more streams)")
    p.add_argument("--profile", action="store_true", help="py-spy the services during the --profile-rate run")
    p.add_argument("--profile-rate", type=float, default=500.0, help="the offered rate --profile records")
    p.add_argument("--pg-stats", action="store_true", help="print PostgreSQL's top statements per rate")
    p.add_argument("--plot", type=Path, default=None, help="write a latency-vs-load PNG here")
    a = p.parse_args()
    if a.seconds <= 0 or a.drain <= 0 or a.intake_workers < 1:
        p.error("--seconds and --drain must be positive, --intake-workers at least 1")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    asyncio.run(main(a))
