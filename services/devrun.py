"""`moksori run`: the whole system on one machine.

Starts embedded NATS JetStream and PostgreSQL (unless NATS_URL / DATABASE_URL
point elsewhere), applies migrations, starts the four services as separate OS
processes, and stops everything in order on Ctrl-C: services drain first, then
NATS, then PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.devstack import NatsServer, PostgresServer, bind_failed, free_port, log_size, spawn, stop_process
from shared.natsauth import Credentials, generate_credentials, load_credentials, server_config, url_with
from shared.pii_crypto import PiiCipher

SERVICES = ("intake", "classifier", "routing", "feedback")
# a partner channel system for trying the NATS channel locally (README: "How a channel submits a VOC")
DEV_PARTNERS = ("easypay",)


@dataclass
class Stack:
    var: Path
    nats: NatsServer | None = None
    pg: PostgresServer | None = None
    nats_url: str = ""
    database_url: str = ""
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    api_key: str = ""
    # how each service was last started: its extra environment, whether the stack chose its
    # port, and where its log stood (start_service); wait_ready may start it again on another port
    starts: dict[str, tuple[dict[str, str] | None, bool, int]] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def log(self, service: str) -> Path:
        return self.var / "log" / f"{service}.log"


def _generate_secrets() -> dict[str, str]:
    from shared.events import AFFILIATES

    return {"PII_KEYS": PiiCipher.generate_spec("dev1"), "CASE_ACCESS_KEY": os.urandom(24).hex(),
            "SURVEY_SECRET": os.urandom(24).hex(),
            "TEAM_KEYS": ",".join(f"{a}:{a}-{os.urandom(12).hex()}" for a in AFFILIATES),
            "CONSULTATION_KEYS": ",".join(f"{a}:cs-{a}-{os.urandom(12).hex()}" for a in AFFILIATES),
            "DASHBOARD_KEYS": f"group:dash-{os.urandom(16).hex()}"}


def dev_secrets(var: Path) -> dict[str, str]:
    """Local secrets, generated once into var/ (git-ignored); real deployments use Secrets.
    A secret added in a newer version is appended to an existing file."""
    path = var / "dev-secrets.env"
    var.mkdir(parents=True, exist_ok=True)
    have = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line) if path.exists() else {}
    missing = {k: v for k, v in _generate_secrets().items() if k not in have}
    if missing:
        with path.open("a") as fh:
            fh.writelines(f"{k}={v}\n" for k, v in missing.items())
        path.chmod(0o600)
        have.update(missing)
    return {k: v for k, v in have.items() if k not in os.environ}


def team_keys(var: Path, name: str = "TEAM_KEYS") -> dict[str, str]:
    """affiliate -> its routing HTTP key (or, with CONSULTATION_KEYS, its consulting systems' key for
    feedback; with DASHBOARD_KEYS, the office's dashboard key under `group`), from the dev secrets."""
    spec = dev_secrets(var).get(name) or os.environ[name]
    return {item.split(":", 1)[0]: item.split(":", 1)[1] for item in spec.split(",")}


# one employee (사번) of each affiliate's team in the demo and the tests: every team read and step names one
DEV_STAFF = {"bank": "B2015032", "card": "C2019114", "securities": "S2021007", "insurance": "I2018055",
             "group": "O2026001"}


def team_headers(var: Path, affiliate: str) -> dict[str, str]:
    """The headers a team's system sends routing: its affiliate's key and the employee acting."""
    return {"X-Api-Key": team_keys(var)[affiliate], "X-Staff-Id": DEV_STAFF[affiliate]}


def dashboard_headers(var: Path) -> dict[str, str]:
    """The headers the office's dashboard sends feedback (GET /v1/dashboard): its key from DASHBOARD_KEYS."""
    return {"X-Api-Key": team_keys(var, "DASHBOARD_KEYS")["group"]}


def start_infra(stack: Stack, *, durable: bool = True) -> None:
    stack.var.mkdir(parents=True, exist_ok=True)
    if os.environ.get("NATS_URL"):
        stack.nats_url = os.environ["NATS_URL"]
    else:
        conf, creds = local_nats_auth(stack.var)
        stack.nats = NatsServer(stack.var / "nats", name="moksori-dev", extra_args=["-c", str(conf)]).start()
        stack.nats_url = url_with(stack.nats.url, creds["services"])
    if os.environ.get("DATABASE_URL"):
        stack.database_url = os.environ["DATABASE_URL"]
    else:
        stack.pg = PostgresServer(stack.var / "pg", durable=durable).start()
        stack.database_url = stack.pg.url


def local_nats_auth(var: Path) -> tuple[Path, dict[str, Credentials]]:
    """The embedded server runs with the same per-affiliate isolation as production:
    generated once into var/ (nats-auth.conf for the server, nats-credentials.json for clients)."""
    conf, cred_file = var / "nats-auth.conf", var / "nats-credentials.json"
    previous = load_credentials(cred_file) if cred_file.exists() else None
    # the passwords of an earlier run are kept; users added since (a demo partner) get one
    creds = generate_credentials(previous, partners=DEV_PARTNERS)
    if creds != previous or not conf.exists():
        cred_file.write_text(json.dumps({k: vars(v) for k, v in creds.items()}, indent=2))
        cred_file.chmod(0o600)
    # written anew: the permissions may have changed since; cheap hashes, as only this machine's server reads them
    conf.write_text(server_config(creds, cost=4))
    conf.chmod(0o600)
    return conf, creds


def service_env(stack: Stack, service: str, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(dev_secrets(stack.var))
    env.update({"NATS_URL": stack.nats_url, "DATABASE_URL": stack.database_url, "HTTP_PORT": str(port),
                "PYTHONUNBUFFERED": "1"})
    if service == "feedback":  # survey links point at this feedback instance
        env["SURVEY_BASE_URL"] = f"http://127.0.0.1:{port}/s"
    if service == "intake":  # and receipt notices' status links at this intake
        env["STATUS_BASE_URL"] = f"http://127.0.0.1:{port}/c"
    env.update(extra or {})
    return env


def start_service(stack: Stack, service: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    chosen = service not in stack.ports
    port = stack.ports.get(service) or free_port()
    stack.ports[service] = port
    log = stack.log(service)
    stack.starts[service] = (extra_env, chosen, log_size(log))
    proc = spawn([sys.executable, "-m", f"services.{service}"], log=log,
                 env=service_env(stack, service, port, extra_env), cwd=Path(__file__).resolve().parent.parent)
    stack.procs[service] = proc
    return proc


def _restart_elsewhere(stack: Stack, service: str) -> bool:
    """A service binds its HTTP port only once it has started up (seconds after the stack chose
    the port), so another process may have taken the port meanwhile: started again on a fresh one,
    once, if the stack chose it. A port the caller gave (or a restart's) stays an error."""
    extra_env, chosen, since = stack.starts.get(service, (None, False, 0))
    if not chosen or not bind_failed(stack.log(service), since):
        return False
    del stack.ports[service]
    start_service(stack, service, extra_env)
    stack.starts[service] = (extra_env, False, stack.starts[service][2])  # one more try only
    return True


async def wait_ready(stack: Stack, services: tuple[str, ...] = SERVICES, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1.0) as client:
        for svc in services:
            while True:
                proc = stack.procs[svc]
                if proc.poll() is not None and not _restart_elsewhere(stack, svc):
                    raise RuntimeError(f"{svc} exited with {proc.returncode}; see {stack.log(svc)}:\n"
                                       + "\n".join(stack.log(svc).read_text(errors="replace").splitlines()[-15:]))
                try:
                    if (await client.get(f"{stack.url(svc)}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{svc} not ready after {timeout}s; see {stack.log(svc)}")
                await asyncio.sleep(0.1)


async def issue_dev_key(stack: Stack, name: str = "make-run", rate_per_s: float = 1000.0) -> str:
    """A key for every channel with all roles, replaced on each start (dev, tests and benchmarks;
    a benchmark raises the rate so that it measures intake, not the key's limit). It reveals every
    case (`all`, the consumer-protection office's scope), as the dev stack plays every affiliate."""
    import asyncpg

    from services.intake.adapters.apikeys import create_key
    from shared.events import CHANNELS

    conn = await asyncpg.connect(stack.database_url)
    try:
        stack.api_key = await create_key(conn, name, list(CHANNELS), ["submit", "read", "reveal"], rate_per_s,
                                         int(2 * rate_per_s),
                                         replace=True, affiliates=["all"])
    finally:
        await conn.close()
    return stack.api_key


def stop_services(stack: Stack, services: tuple[str, ...] | None = None) -> None:
    names = services or tuple(stack.procs)
    for name in names:  # signal all first so they drain in parallel
        proc = stack.procs.get(name)
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for name in names:
        stop_process(stack.procs.get(name), signal.SIGTERM, timeout=20)


def stop_all(stack: Stack) -> None:
    stop_services(stack)
    if stack.nats:
        stack.nats.stop()
    if stack.pg:
        stack.pg.stop()


async def restart_service(stack: Stack, service: str, sig: int = signal.SIGTERM,
                          extra_env: dict[str, str] | None = None, timeout: float = 60.0) -> int | None:
    """Stop one service (SIGTERM drains it; SIGKILL crashes it, relay and all), start it again
    on the same port and wait until it is ready. Returns the old process's exit code."""
    code = await asyncio.to_thread(stop_process, stack.procs.get(service), sig, 20.0)
    start_service(stack, service, extra_env)
    await wait_ready(stack, (service,), timeout)
    return code


def log_tails(stack: Stack, services: tuple[str, ...] | None = None, lines: int = 30) -> str:
    """The last lines of each service's log, for a failing test's message."""
    out = []
    for svc in services or tuple(stack.procs):
        try:
            text = "\n".join(stack.log(svc).read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            text = f"(no log: {exc})"
        out.append(f"----- {svc} ({stack.log(svc)}) -----\n{text}")
    return "\n".join(out)
