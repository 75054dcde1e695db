"""The chaos suite's machinery (issue #8): a stack of real servers and the four services,
clients that retry with the same Idempotency-Key, a supervisor that restarts killed
services, and the final accounting over case ids.

Every scenario ends with `verify`: once the system is quiet (every outbox sent,
every consumer caught up), each accepted case id must be routed exactly once, in
routing's database and as exactly one CaseRouted message in VOC_ROUTED (plus the
consumer-protection copy when routing says it made one), with nothing routed that
was not accepted. No effect may be applied twice either: one VocReceived and one
VocClassified message per case, one 'classified' and one 'routed' entry on intake's
timeline. Counts go to stdout and, as JSON lines, to var/chaos-results.jsonl
(CHAOS_RESULTS overrides the path).

Sizes come from CHAOS_SCALE: unset or `bounded` (what `make test` runs), `full`
(`make chaos`), or a number, the fraction of the full size.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import nats
import nats.errors
import nats.js.errors
from nats.js import api

from services import devrun
from shared.devstack import NatsCluster, NatsServer, PostgresServer, stop_process

REPO = Path(__file__).resolve().parents[2]
RESULTS = Path(os.environ.get("CHAOS_RESULTS") or REPO / "var" / "chaos-results.jsonl")


def scale() -> str:
    return (os.environ.get("CHAOS_SCALE") or "bounded").strip().lower()


def sized(bounded: int, full: int) -> int:
    s = scale()
    if s == "bounded":
        return bounded
    if s == "full":
        return full
    return max(1, round(full * float(s)))


def record(result: dict) -> None:
    """Print one scenario's counts and append them to the results file (JSON lines)."""
    result = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "scale": scale(), **result}
    line = json.dumps(result, ensure_ascii=False)
    print(f"\nCHAOS {line}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(line + "\n")


# ----------------------------------------------------------------------------- the stack

@dataclass
class Chaos:
    """One scenario's servers and services. `start`/`restart` pass the scenario's extra
    environment (NATS_REPLICAS=3 for the cluster) to every (re)start."""

    stack: devrun.Stack
    nats: NatsServer | NatsCluster
    pg: PostgresServer | None
    env: dict[str, str]
    services: tuple[str, ...]

    def start(self, service: str) -> None:
        devrun.start_service(self.stack, service, self.env)

    async def restart(self, service: str, sig: int = signal.SIGTERM) -> int | None:
        return await devrun.restart_service(self.stack, service, sig, self.env)

    def alive(self, service: str) -> bool:
        proc = self.stack.procs.get(service)
        return proc is not None and proc.poll() is None

    def logs(self, lines: int = 30) -> str:
        """Each service's warnings and errors (the last 10; tails alone often show only restarts),
        then the tails of the logs."""
        problems = []
        for svc in self.services:
            try:
                text = self.stack.log(svc).read_text(errors="replace")
            except OSError:
                continue
            bad = [ln for ln in text.splitlines() if '"level": "info"' not in ln and '"level": "debug"' not in ln]
            problems += [f"{svc}: {ln[:600]}" for ln in bad[-10:]]
        head = "----- warnings and errors -----\n" + ("\n".join(problems) or "(none)") + "\n"
        return head + devrun.log_tails(self.stack, self.services, lines)

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.stack.database_url)

    async def nc(self) -> nats.NATS:
        return await nats.connect(self.stack.nats_url.split(","), max_reconnect_attempts=-1, connect_timeout=2)


@asynccontextmanager
async def chaos_stack(tmp: Path, *, database_url: str | None = None, cluster: bool = False,
                      services: tuple[str, ...] = devrun.SERVICES,
                      env: dict[str, str] | None = None) -> AsyncIterator[Chaos]:
    """Real nats-server (one, or a 3-node cluster with R3 streams) and PostgreSQL (the given
    database, or a durable server of the scenario's own that it may restart), then the
    services, with `env` added to their environment. Everything is stopped on the way out,
    also when the scenario fails."""
    server: NatsServer | NatsCluster = (NatsCluster(tmp / "nats", name="chaos") if cluster
                                        else NatsServer(tmp / "nats" / "n1", name="chaos"))
    pg = None if database_url else PostgresServer(tmp / "pg", durable=True)
    stack = devrun.Stack(var=tmp / "var")
    env = ({"NATS_REPLICAS": "3"} if cluster else {}) | (env or {})
    chaos = Chaos(stack, server, pg, env, services)
    try:
        await asyncio.to_thread(server.start)
        if pg:
            await asyncio.to_thread(pg.start)
        stack.nats_url = server.url
        stack.database_url = pg.url if pg else database_url  # type: ignore[assignment]
        for svc in services:
            chaos.start(svc)
        await devrun.wait_ready(stack, services, timeout=120)
        await devrun.issue_dev_key(stack, "chaos")
        yield chaos
    finally:
        await asyncio.to_thread(_stop_everything, chaos)


def _stop_everything(chaos: Chaos) -> None:
    try:
        devrun.stop_services(chaos.stack)
    finally:
        for proc in chaos.stack.procs.values():  # whatever ignored SIGTERM
            stop_process(proc, signal.SIGKILL, 5)
        chaos.nats.stop()
        if chaos.pg:
            chaos.pg.stop()


# ---------------------------------------------------------------------------- the clients

@dataclass
class Sent:
    key: str
    body: dict
    case_id: str | None = None
    accepted_at: float | None = None  # wall clock when the 202 arrived
    attempts: int = 0


class Load:
    """Channel clients: each VOC is POSTed until intake answers 202, every retry with the
    same Idempotency-Key and the same body, as a real channel does. `rate` (VOCs per
    second, over all workers) paces the stream; without it the workers go flat out."""

    def __init__(self, chaos: Chaos, bodies: list[dict], *, concurrency: int = 16, rate: float | None = None,
                 request_timeout: float = 5.0) -> None:
        self.chaos = chaos
        self.items = [Sent(str(uuid.uuid4()), b) for b in bodies]
        self.concurrency, self.rate, self.request_timeout = concurrency, rate, request_timeout
        self.retries: Counter[str] = Counter()
        self.rejected: list[tuple[str, int, str]] = []
        self._next = 0
        self.started = self.finished = 0.0

    @classmethod
    def merged(cls, *loads: "Load") -> "Load":
        """Several phases of a scenario accounted as one stream."""
        m = cls(loads[0].chaos, [])
        m.items = [i for load in loads for i in load.items]
        m.retries = sum((load.retries for load in loads), Counter())
        m.rejected = [r for load in loads for r in load.rejected]
        m.started, m.finished = loads[0].started, loads[-1].finished
        return m

    @property
    def sent(self) -> int:
        return sum(1 for s in self.items if s.attempts)

    @property
    def accepted(self) -> dict[str, str]:
        return {s.key: s.case_id for s in self.items if s.case_id}

    def accepted_ids(self) -> set[str]:
        return {s.case_id for s in self.items if s.case_id}

    async def reached(self, fraction: float, timeout: float = 300.0) -> None:
        """Wait until `fraction` of the VOCs have been accepted."""
        want = int(len(self.items) * fraction)
        deadline = time.monotonic() + timeout
        while sum(1 for s in self.items if s.case_id) < want:
            if time.monotonic() > deadline:
                raise TimeoutError(self.chaos.logs() + f"\nonly {len(self.accepted)} of {want} accepted after "
                                   f"{timeout}s")
            await asyncio.sleep(0.05)

    async def run(self, timeout: float) -> None:
        self.started = time.monotonic()
        try:
            async with httpx.AsyncClient(base_url=self.chaos.stack.url("intake"), timeout=self.request_timeout,
                                         headers={"X-Api-Key": self.chaos.stack.api_key},
                                         limits=httpx.Limits(max_connections=self.concurrency)) as http:
                await asyncio.wait_for(asyncio.gather(*(self._worker(http) for _ in range(self.concurrency))),
                                       timeout)
        except TimeoutError:
            raise AssertionError(self.chaos.logs() + f"\nclients not done after {timeout}s: sent {self.sent}, "
                                 f"accepted {len(self.accepted)} of {len(self.items)}, retries {dict(self.retries)}"
                                 ) from None
        finally:
            self.finished = time.monotonic()
        assert not self.rejected, f"intake rejected VOCs it should have taken: {self.rejected[:5]}"

    async def _worker(self, http: httpx.AsyncClient) -> None:
        while self._next < len(self.items):
            i = self._next
            self._next += 1
            if self.rate:
                delay = self.started + i / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await self._submit(http, self.items[i])

    async def _submit(self, http: httpx.AsyncClient, item: Sent) -> None:
        backoff = 0.05
        while True:
            item.attempts += 1
            try:
                r = await http.post("/v1/voc", headers={"Idempotency-Key": item.key}, json=item.body)
            except httpx.TransportError as exc:
                self.retries[type(exc).__name__] += 1
            else:
                if r.status_code == 202:
                    item.case_id, item.accepted_at = r.json()["case_id"], time.time()
                    return
                if r.status_code != 429 and r.status_code < 500:
                    self.rejected.append((item.key, r.status_code, r.text[:300]))
                    return
                self.retries[str(r.status_code)] += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)


async def alongside(load: Load, timeout: float, side: asyncio.Task):
    """Run the load while `side` (outages, restarts, poison) does its work, and return what
    `side` returns. If the load fails, `side` is cancelled rather than left waiting for a
    stream that will not come."""
    try:
        await load.run(timeout)
    except BaseException:
        side.cancel()
        await asyncio.gather(side, return_exceptions=True)
        raise
    return await side


# ----------------------------------------------------------------------- killing things

class Supervisor:
    """What Kubernetes does for the pods: restarts any watched service whose process has
    exited and waits until it is ready again, and, like a liveness probe, kills a service
    whose /healthz stops answering (LIVENESS_FAILURES checks in a row, one a second), so
    it is restarted too. Such kills are counted in `hung` (with the stacks py-spy saw, where
    it is installed) and reported with the scenario's counts."""

    LIVENESS_FAILURES = 5

    def __init__(self, chaos: Chaos, services: Iterable[str]) -> None:
        self.chaos, self.services = chaos, tuple(services)
        self.restarts: Counter[str] = Counter()
        self.restart_s: list[float] = []  # start to ready, each restart
        self.hung: list[dict] = []
        self.liveness_kills: list[tuple[str, str]] = []  # (service, when): the same list all along, for records
        self.ready = {svc: asyncio.Event() for svc in self.services}
        for e in self.ready.values():
            e.set()

    async def run(self, stop: asyncio.Event) -> None:
        failures: Counter[str] = Counter()
        last_probe = 0.0
        async with httpx.AsyncClient(timeout=2.0) as http:
            while not stop.is_set():
                for svc in self.services:
                    if not self.chaos.alive(svc):
                        failures[svc] = 0
                        await self._restart(svc)
                if time.monotonic() - last_probe >= 1.0:
                    last_probe = time.monotonic()
                    for svc in self.services:
                        if not (self.ready[svc].is_set() and self.chaos.alive(svc)):
                            continue
                        try:
                            ok = (await http.get(f"{self.chaos.stack.url(svc)}/healthz")).status_code == 200
                        except httpx.HTTPError:
                            ok = False
                        failures[svc] = 0 if ok else failures[svc] + 1
                        if failures[svc] >= self.LIVENESS_FAILURES:
                            await self._kill_hung(svc)
                            failures[svc] = 0
                await asyncio.sleep(0.05)

    async def _kill_hung(self, svc: str, starting: bool = False) -> None:
        """Record what the hung service was doing (py-spy, off the event loop), then kill it."""
        at = datetime.now(UTC).isoformat(timespec="seconds")
        stacks = (await asyncio.to_thread(_stacks, self.chaos, (svc,))).get(svc, "")
        self.hung.append({"service": svc, "at": at, "starting": starting, "stacks": stacks})
        self.liveness_kills.append((svc, at))
        self.chaos.stack.procs[svc].send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.chaos.stack.procs[svc].wait)

    async def _restart(self, svc: str) -> None:
        self.ready[svc].clear()
        t = time.monotonic()
        self.chaos.start(svc)
        self.restarts[svc] += 1
        try:
            await devrun.wait_ready(self.chaos.stack, (svc,), timeout=90)
        except RuntimeError:  # killed again while starting: the next round restarts it
            return
        except TimeoutError:  # never became ready: a startup probe gives up on it, and it is restarted
            await self._kill_hung(svc, starting=True)
            return
        self.ready[svc].set()
        self.restart_s.append(time.monotonic() - t)

    async def all_ready(self, timeout: float = 120.0) -> None:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in self.ready.values())), timeout)


async def kill_randomly(chaos: Chaos, supervisor: Supervisor, targets: tuple[str, ...], stop: asyncio.Event,
                        rng: random.Random, every: tuple[float, float]) -> Counter[str]:
    """kill -9 a random running target at random intervals (the relay inside it dies with it,
    possibly mid-publish); the supervisor brings it back."""
    kills: Counter[str] = Counter()
    while True:
        try:
            await asyncio.wait_for(stop.wait(), rng.uniform(*every))
            return kills
        except TimeoutError:
            pass
        up = [s for s in targets if supervisor.ready[s].is_set() and chaos.alive(s)]
        if not up:
            continue
        svc = min(up, key=lambda s: (kills[s], rng.random()))  # random order, each in turn
        chaos.stack.procs[svc].send_signal(signal.SIGKILL)
        await asyncio.to_thread(chaos.stack.procs[svc].wait)
        kills[svc] += 1


# ------------------------------------------------------------------------- reading NATS

async def read_stream(js, stream: str, subject: str = ">", timeout: float = 120.0, attempts: int = 5) -> list:
    """Every message in a stream (filtered by subject), through an ephemeral consumer. A cluster
    that has just had nodes back may answer 503 (no consumer leader yet): read again from the start."""
    for attempt in range(attempts):
        try:
            return await _read_stream(js, stream, subject, timeout)
        except (nats.js.errors.ServiceUnavailableError, nats.errors.TimeoutError, nats.errors.NoRespondersError):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


async def _read_stream(js, stream: str, subject: str, timeout: float) -> list:
    info = await js.stream_info(stream)
    if info.state.messages == 0:
        return []
    sub = await js.pull_subscribe(subject, stream=stream, config=api.ConsumerConfig(
        ack_policy=api.AckPolicy.NONE, deliver_policy=api.DeliverPolicy.ALL, inactive_threshold=10.0,
        mem_storage=True, num_replicas=1))
    out: list = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msgs = await sub.fetch(1000, timeout=2)
            except nats.errors.TimeoutError:
                if out:  # nothing more matches the filter
                    break
                continue
            out.extend(msgs)
            if msgs[-1].metadata.num_pending == 0:
                break
        else:
            raise TimeoutError(f"reading {stream} took more than {timeout}s ({len(out)} messages so far)")
    finally:
        await sub.unsubscribe()
    return out


@dataclass
class Routed:
    """CaseRouted messages by case id: the primary routing and the consumer-protection copy."""

    primary: Counter[str] = field(default_factory=Counter)
    copies: Counter[str] = field(default_factory=Counter)
    at: dict[str, float] = field(default_factory=dict)  # case id -> stream timestamp of its (first) routing

    @classmethod
    async def read(cls, nc) -> "Routed":
        r = cls()
        for m in await read_stream(nc.jetstream(), "VOC_ROUTED"):
            case = m.headers["ce-subject"]
            data = json.loads(m.data)
            if data.get("handoff"):  # a transfer's or reopen's handoff to a team: no routing of its own
                continue
            if data.get("copy_reason"):
                r.copies[case] += 1
            else:
                r.primary[case] += 1
                r.at.setdefault(case, m.metadata.timestamp.timestamp())
        return r


# ------------------------------------------------------------------------- the accounting

QUIET_CONSUMERS = (("VOC_INTAKE", "classifier"), ("VOC_CLASSIFIED", "routing"),
                   ("VOC_CLASSIFIED", "intake-timeline"), ("VOC_ROUTED", "intake-timeline"),
                   ("VOC_ROUTED", "feedback-facts"))


async def wait_quiet(chaos: Chaos, expected: set[str], *, timeout: float, stall: float = 120.0) -> dict:
    """Poll until every accepted case is in routing's table and nothing is left in flight:
    no unsent outbox row in any service, no pending or unacknowledged message on the
    pipeline's consumers. Fails with the counts and the service logs when progress stops
    for `stall` seconds (a killed consumer's batch waits one ack_wait, 30 s, to come back)
    or after `timeout`."""
    schemas = [s for s in ("intake", "classifier", "routing", "feedback") if s in chaos.services]
    consumers = [c for c in QUIET_CONSUMERS if c[1].split("-")[0] in chaos.services]
    start = last_change = time.monotonic()
    last: tuple | None = None
    state: dict = {}
    nc = await chaos.nc()
    js = nc.jetstream()
    try:
        while True:
            try:
                conn = await chaos.db()
                try:
                    routed = {str(r[0]) for r in await conn.fetch("SELECT case_id FROM routing.cases")}
                    pending = {s: await conn.fetchval(f"SELECT count(*) FROM {s}.outbox WHERE sent_at IS NULL")
                               for s in schemas}
                finally:
                    await conn.close()
                lag = {}
                for stream, durable in consumers:
                    info = await js.consumer_info(stream, durable)
                    lag[f"{stream}:{durable}"] = info.num_pending + info.num_ack_pending
                state = {"routed": len(routed & expected), "missing": len(expected - routed),
                         "extra": len(routed - expected), "outbox_pending": pending, "consumer_lag": lag}
                if expected <= routed and not any(pending.values()) and not any(lag.values()):
                    return state
            except (OSError, asyncpg.PostgresError, nats.errors.Error, TimeoutError) as exc:
                state = {**state, "error": repr(exc)}
            now = time.monotonic()
            key = (state.get("routed"), json.dumps(state.get("outbox_pending")), json.dumps(state.get("consumer_lag")))
            if key != last:
                last, last_change = key, now
            if now - last_change > stall or now - start > timeout:
                state["where_missing"] = await _where(chaos, expected)
                state["postgres_sessions"] = await _sessions(chaos)
                state["stacks"] = _stacks(chaos)
                raise AssertionError(f"{chaos.logs()}\nnot quiet after {now - start:.0f}s (no progress for "
                                     f"{now - last_change:.0f}s): {json.dumps(state, default=str)}")
            await asyncio.sleep(0.5)
    finally:
        await nc.close()


async def _where(chaos: Chaos, expected: set[str]) -> dict:
    """For a stalled run: how far the first missing cases got (classified? events sent?)."""
    try:
        conn = await chaos.db()
        try:
            routed = {str(r[0]) for r in await conn.fetch("SELECT case_id FROM routing.cases")}
            missing = sorted(expected - routed)[:5]
            out = {}
            for case in missing:
                out[case] = {
                    "classified": await conn.fetchval(
                        "SELECT count(*) FROM classifier.classifications WHERE case_id = $1::uuid", case),
                    "timeline": [r[0] for r in await conn.fetch(
                        "SELECT status FROM intake.timeline WHERE case_id = $1::uuid ORDER BY at", case)],
                    "outbox": {s: await conn.fetchval(
                        f"SELECT count(*) FILTER (WHERE sent_at IS NULL) || '/' || count(*) FROM {s}.outbox "
                        "WHERE headers->>'ce-subject' = $1", case)
                        for s in ("intake", "classifier")},
                }
            return out
        finally:
            await conn.close()
    except Exception as exc:  # diagnostics only: never hide the real failure
        return {"error": repr(exc)}


async def _sessions(chaos: Chaos) -> list:
    """For a stalled run: every PostgreSQL session that is not idle, and what it waits for."""
    try:
        conn = await chaos.db()
        try:
            return [dict(r) for r in await conn.fetch(
                "SELECT pid, state, wait_event_type, wait_event, now() - xact_start AS xact_age, "
                "left(query, 160) AS query FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'")]
        finally:
            await conn.close()
    except Exception as exc:  # diagnostics only
        return [{"error": repr(exc)}]


def _stacks(chaos: Chaos, services: Iterable[str] | None = None) -> dict:
    """For a stalled run: each service's Python stacks, where py-spy is installed (not in CI)."""
    import shutil
    import subprocess
    import sys

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return {"note": "py-spy not installed"}
    out = {}
    for svc in services or chaos.services:
        proc = chaos.stack.procs.get(svc)
        if proc is not None and proc.poll() is None:
            try:
                r = subprocess.run([spy, "dump", "--pid", str(proc.pid)], capture_output=True, text=True, timeout=10)
                out[svc] = (r.stdout or r.stderr)[-4000:]
            except (OSError, subprocess.SubprocessError) as exc:  # diagnostics only: never fail the run
                out[svc] = f"py-spy failed: {exc!r}"
    return out


async def verify(chaos: Chaos, load: Load, *, scenario: str, started: float, timeout: float | None = None,
                 effects: bool = True, **extra) -> dict:
    """The set comparison every scenario ends with; records and returns the counts."""
    accepted = load.accepted
    ids = set(accepted.values())
    quiet = await wait_quiet(chaos, ids, timeout=timeout or sized(300, 1500))
    conn = await chaos.db()
    try:
        intake = {r["idempotency_key"].removeprefix("http:chaos:"): str(r["id"]) for r in
                  await conn.fetch("SELECT id, idempotency_key FROM intake.cases")}
        db_rows = await conn.fetch("SELECT case_id, copied_to_cpo FROM routing.cases")
        timeline = {str(r["case_id"]): (r["classified"], r["routed"]) for r in await conn.fetch(
            "SELECT case_id, count(*) FILTER (WHERE status = 'classified') AS classified, "
            "count(*) FILTER (WHERE status = 'routed' AND detail ? 'resolve_due') AS routed "
            "FROM intake.timeline GROUP BY case_id")} if effects else {}
    finally:
        await conn.close()
    db_routed = Counter(str(r["case_id"]) for r in db_rows)
    copied = {str(r["case_id"]) for r in db_rows if r["copied_to_cpo"]}
    nc = await chaos.nc()
    try:
        routed = await Routed.read(nc)
        received = Counter(m.headers.get("ce-subject") for m in await read_stream(nc.jetstream(), "VOC_INTAKE")
                           ) if effects else Counter()
        classified = Counter(m.headers["ce-subject"] for m in await read_stream(nc.jetstream(), "VOC_CLASSIFIED")
                             ) if effects else Counter()
    finally:
        await nc.close()

    missing = (ids - set(db_routed)) | (ids - set(routed.primary))
    extra_ids = (set(db_routed) - ids) | (set(routed.primary) - ids) | (set(routed.copies) - ids)
    duplicates = {c: n for c, n in routed.primary.items() if n > 1}
    bad_copies = {c for c in ids if routed.copies.get(c, 0) != (1 if c in copied else 0)}
    dup_effects: dict[str, list[str]] = {}
    if effects:
        for c in ids:
            what = []
            if received.get(c, 0) != 1:  # intake's relay, killed mid-publish, re-publishes: JetStream drops it
                what.append(f"VocReceived x{received.get(c, 0)}")
            if classified.get(c, 0) != 1:
                what.append(f"VocClassified x{classified.get(c, 0)}")
            cl, ro = timeline.get(c, (0, 0))
            if cl != 1 or ro != 1:
                what.append(f"timeline classified x{cl} routed x{ro}")
            if what:
                dup_effects[c] = what
    result = {
        "scenario": scenario, "sent": load.sent, "accepted": len(accepted),
        "routed": len(set(db_routed) & ids), "routed_msgs": sum(routed.primary.values()),
        "copies": sum(routed.copies.values()), "missing": len(missing), "extra": len(extra_ids),
        "duplicates": len(duplicates), "effects_wrong": len(dup_effects), "client_retries": sum(load.retries.values()),
        "load_s": round(load.finished - load.started, 1), "duration_s": round(time.monotonic() - started, 1),
        **extra,
    }
    record(result)
    detail = (f"{json.dumps(result)}\nmissing {sorted(missing)[:10]}\nextra {sorted(extra_ids)[:10]}\n"
              f"duplicates {list(duplicates.items())[:10]}\ncopies wrong {sorted(bad_copies)[:10]}\n"
              f"effects wrong {list(dup_effects.items())[:10]}\nquiet state {quiet}\n")
    assert load.sent == len(accepted) == len(load.items), "every VOC sent must end accepted\n" + detail
    assert {k: intake.get(k) for k in accepted} == accepted and len(intake) == len(accepted), (
        "every 202 is exactly the case intake stored, and no other case exists\n" + detail)
    assert missing == set() and extra_ids == set() and duplicates == {}, chaos.logs() + "\n" + detail
    assert bad_copies == set() and dup_effects == {}, chaos.logs() + "\n" + detail
    return result
