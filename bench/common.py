"""What the benchmarks share: an embedded NATS + PostgreSQL stack, and pinning to one core."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nats

from services import devrun
from shared.devstack import NatsServer, PostgresServer


@contextmanager
def embedded_stack(pg_settings: tuple[str, ...] = ()) -> Iterator[devrun.Stack]:
    """Fresh NATS and PostgreSQL (durable settings, as in production) in a temp dir; the
    services a benchmark starts on the stack, then the servers, are stopped on the way out, and
    the servers' data removed (MOKSORI_BENCH_KEEP=1 keeps it). The services' logs are kept."""
    tmp = Path(tempfile.mkdtemp(prefix="moksori-bench-"))
    nats_server = NatsServer(tmp / "nats").start()
    pg = PostgresServer(tmp / "pg", settings=pg_settings).start()
    stack = devrun.Stack(var=tmp / "var", nats=nats_server, pg=pg, nats_url=nats_server.url,
                          database_url=pg.url)
    try:
        yield stack
    finally:
        devrun.stop_services(stack)
        nats_server.stop()
        pg.stop()
        # the servers' data (hundreds of MB a run) goes; the services' logs stay for a look afterwards
        if not os.environ.get("MOKSORI_BENCH_KEEP"):
            shutil.rmtree(tmp / "nats", ignore_errors=True)
            shutil.rmtree(tmp / "pg", ignore_errors=True)
        print(f"service logs: {tmp / 'var' / 'log'}", file=sys.stderr)


def pin_to_one_core(pid: int = 0) -> str:
    try:
        os.sched_setaffinity(pid, {0})
        return "pinned to CPU 0"
    except (AttributeError, OSError):
        return "not pinned (sched_setaffinity unavailable)"


async def stream_messages(url: str, stream: str) -> int:
    """How many messages a stream holds now (a fresh connection, so callers need none)."""
    nc = await nats.connect(url)
    try:
        return (await nc.jetstream().stream_info(stream)).state.messages
    finally:
        await nc.close()


def profile(pids: dict[str, int], seconds: float, out: Path) -> dict[str, subprocess.Popen]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return {name: subprocess.Popen([spy, "record", "-p", str(pid), "--subprocesses", "-d", str(int(seconds)), "-r", "200",
                                    "--nonblocking", "-f", "raw", "-o", str(out / f"{name}.txt")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name, pid in pids.items()}


def top_costs(collapsed: Path, n: int = 8) -> list[tuple[str, float]]:
    """Share of samples per leaf frame (where the CPU was) from py-spy's collapsed stacks."""
    leaf: Counter = Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            frame = stack.split(";")[-1]
            leaf[frame.split(" (")[0] + " (" + frame.split(" (")[-1].split("/")[-1]] += int(count)
    total = sum(leaf.values()) or 1
    return [(frame, round(100 * c / total, 1)) for frame, c in leaf.most_common(n)]
