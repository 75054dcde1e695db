"""The process shell every service shares: HTTP (FastAPI on uvicorn), JetStream
consumers (FastStream), a Postgres pool, the outbox relay and graceful shutdown.

Nothing connects at construction; everything opens in the lifespan and closes in
reverse order on SIGTERM/SIGINT: stop pulling, finish in-flight batches, flush the
outbox, drain NATS, close the pool.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import asyncpg
import nats
import nats.js.errors
import uvicorn
from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from faststream.nats import NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.prometheus import NatsPrometheusMiddleware
from faststream.nats.security import NatsSecurity
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from shared import db
from shared.bus import ConsumerSpec, ensure_topology, missing_topology
from shared.config import ServiceSettings
from shared.consumer import IdempotentConsumer, Process, normalise_fetch_timeouts, subscribe
from shared.events import Message
from shared.housekeeping import Housekeeper, Retention
from shared.metrics import Metrics
from shared.outbox import Outbox, PublishFailed, Relay, publish_each
from shared.telemetry import TraceRequests, setup_logging, setup_tracing

log = logging.getLogger(__name__)
T = TypeVar("T")
# nats-py's first connect can hang for good after a failed TLS handshake (its clean-up waits for a socket the
# TLS layer took over): with TLS, each attempt is bounded and, cut off, tried again like any other failure
NATS_TLS_CONNECT_TIMEOUT_S = 30.0


class Runtime:
    def __init__(self, name: str, settings: ServiceSettings, migrations: Path, *, version: str = "0.1.0",
                 needs_nats_to_serve: bool = True) -> None:
        """`needs_nats_to_serve=False` (intake, routing, feedback) keeps HTTP up and ready while NATS
        is away: what the routes write waits in the outbox."""
        self.name = name
        self.needs_nats_to_serve = needs_nats_to_serve
        self.settings = settings
        self.migrations = migrations
        self.outbox = Outbox(schema=name, source=f"moksori/{name}")
        self.metrics = Metrics(name)
        # TLS to NATS, if asked for (shared/tls.py): both connections open with the handshake, every time
        self._nats_tls = settings.nats_tls_options()
        self.broker = NatsBroker(settings.nats_url.split(","), max_reconnect_attempts=-1,
                                 security=NatsSecurity(
                                     ssl_context=self._nats_tls.get("tls"),
                                     tls_handshake_first=self._nats_tls.get("tls_handshake_first", False),
                                 ) if self._nats_tls else None,
                                 # FastStream's own spans (one per pulled batch, linked to each message's
                                 # trace) and Prometheus metrics; tracing is a no-op until setup_tracing
                                 middlewares=[NatsTelemetryMiddleware(),
                                              NatsPrometheusMiddleware(registry=self.metrics.registry,
                                                                       app_name=f"moksori-{name}")],
                                 logger=logging.getLogger("faststream.broker"),
                                 log_level=logging.DEBUG)  # per-message access logs only when debugging
        self.http = FastAPI(title=f"Moksori {name}", version=version, lifespan=self._lifespan)
        self.http.state.runtime = self
        self.http.add_exception_handler(RequestValidationError, _validation_error)
        self.http.add_exception_handler(HTTPException, _http_error)
        for exc_type in db.MAYBE_STORAGE_DOWN:
            self.http.add_exception_handler(exc_type, storage_down)
        self.http.openapi = functools.partial(_openapi_with_our_errors, self.http, self.http.openapi)
        self.http.add_api_route("/healthz", self._healthz, include_in_schema=False)
        self.http.add_api_route("/readyz", self._readyz, include_in_schema=False)
        self.metrics.mount(self.http)
        self.http.add_middleware(TraceRequests)
        self.metrics.on_scrape("outbox", self._scrape_outbox, self.metrics.outbox_pending)
        self._consumers: dict[str, IdempotentConsumer] = {}
        self._pending: list[tuple[ConsumerSpec, tuple[type[Message], ...], Process, int, object]] = []
        self.pool: asyncpg.Pool | None = None
        self.nc: NatsClient | None = None
        self.js: JetStreamContext | None = None
        self.relay: Relay | None = None
        self._stop = asyncio.Event()
        self._stopping = asyncio.Event()  # set first thing at shutdown (consumers let held batches go)
        self._tasks: list[asyncio.Task] = []
        self._broker_started = False
        self._bus_failed: BaseException | None = None
        self._on_start: list = []
        self._background: list = []
        self._retention: list[Retention] = []

    # ---------------------------------------------------------------- wiring
    def consume(self, spec: ConsumerSpec, expect: tuple[type[Message], ...], process: Process,
                batch_size: int = 100, redact=None) -> None:
        key = f"{spec.stream}:{spec.durable}"
        self._pending.append((spec, expect, process, batch_size, redact))
        subscribe(self.broker, spec, lambda: self._consumers[key], batch_size)

    def retain(self, table: str, column: str) -> None:
        """Housekeeping deletes `table`'s rows older than the inbox's age, by their time `column`:
        a service's own tables that only guard against a redelivered message acting twice. Wiring, like
        `consume`: called before the service starts."""
        self._retention.append(Retention(table, column))

    def background(self, make) -> None:
        """`make(stop_event)` returns a coroutine run once the bus is up, until shutdown."""
        self._background.append(make)

    def on_start(self, hook) -> None:
        """Run once the pool exists, before HTTP serves (for adapters that need the pool)."""
        self._on_start.append(hook)

    def wake_relay(self) -> None:
        if self.relay:
            self.relay.wake()

    async def dispatch(self, rows: list) -> None:
        """Publish outbox rows a transaction has just committed (Relay.dispatch). Before the bus is
        up there is no relay yet: the rows wait for it, as every pending row does."""
        if self.relay:
            await self.relay.dispatch(rows)

    async def publish_now(self, msgs: Sequence[tuple[Message, str]]) -> None:
        """Publish events straight to JetStream, not through the outbox, and wait for every ack;
        raises PublishFailed if any was not acked. Only for events that are a pure function of a
        JetStream message being consumed and carry an id derived from it (`msgs` holds
        (message, event id) pairs): the consumer acks its message only after this returned, so a
        failure or a crash means the message is redelivered and the same events, with the same
        ids, are published again; JetStream's duplicate window and the consumers' inboxes drop
        the copies. What a transaction decides goes through the outbox."""
        if self.js is None:
            raise PublishFailed("the bus is not up")
        rows = [self.outbox.encoded(msg, id=event_id)[1] for msg, event_id in msgs]
        failed = [e for e in await publish_each(self.js, [(subject, body, headers) for _, subject, headers, body in rows])
                  if e is not None]
        if failed:
            raise PublishFailed(f"{len(failed)} of {len(rows)} publishes failed: {failed[0]!r}")

    # -------------------------------------------------------------- lifecycle
    @asynccontextmanager
    async def _lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        self.pool = await self._open_database()
        for hook in self._on_start:
            hook()
        # Everything allocated so far lives for the whole process: keep it out of the
        # collector's way, and collect young objects less often, so request latency
        # does not stall on full collections (gc.freeze, as Instagram does).
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 50, 100)
        bus = asyncio.create_task(self._connect_bus(), name=f"{self.name}-bus")
        bus.add_done_callback(self._bus_done)
        self._tasks.append(bus)
        if self.needs_nats_to_serve:
            await asyncio.shield(bus)
        try:
            yield
        finally:
            await self._shutdown()

    async def _open_database(self) -> asyncpg.Pool:
        """The pool, with the schema migrated. While PostgreSQL is away (starting, failing over,
        restarting) wait for it, as for NATS, instead of exiting into the orchestrator's growing
        restart back-off; the startup probe bounds the wait. Any other error ends the start."""
        s = self.settings

        async def open_and_migrate() -> asyncpg.Pool:
            pool = await db.create_pool(s.database_url, max_size=s.db_pool_size)
            try:
                async with pool.acquire() as conn:
                    await db.migrate(conn, self.name, self.migrations)
            except BaseException:
                pool.terminate()
                raise
            return pool

        return await self._until_up("PostgreSQL", open_and_migrate, db.storage_is_down, first_delay=0.5)

    @property
    def _connect_bound(self) -> float | None:
        """How long one attempt to connect to NATS may take: bounded only with TLS (see above)."""
        return NATS_TLS_CONNECT_TIMEOUT_S if self._nats_tls else None

    async def _until_up(self, what: str, attempt: Callable[[], Awaitable[T]],
                        transient: Callable[[BaseException], bool], *, first_delay: float) -> T:
        """`attempt()` until it succeeds: a transient failure is logged and tried again after a
        pause that doubles up to 5 s; any other is raised."""
        delay = first_delay
        while True:
            try:
                return await attempt()
            except Exception as exc:
                if not transient(exc):
                    raise
                self._stop_retrying()
                log.warning("%s: waiting for %s: %r", self.name, what, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _topology(self) -> None:
        """Declare (ensure) or check (verify) the streams and consumers, retrying while JetStream is
        unavailable (a rollout, a leader election): a transient error must not end the bus task."""
        s = self.settings
        delay = 0.5
        while True:
            try:
                if s.nats_topology == "ensure":
                    await ensure_topology(self.js, replicas=s.nats_replicas)
                    return
                drift: list[str] = []
                missing = await missing_topology(self.js, drift=drift)
                for line in drift:  # NACK owns these: say so, do not rewrite them
                    log.warning("%s: JetStream topology differs from shared/bus.py: %s", self.name, line)
                if not missing:
                    return
                log.warning("%s: waiting for the JetStream topology (NATS_TOPOLOGY=verify; apply the NACK "
                            "resources in deploy/): missing %s", self.name, ", ".join(missing[:10]))
            except (nats.errors.Error, asyncio.TimeoutError, OSError) as exc:
                self._stop_retrying()
                log.warning("%s: JetStream not available yet for the topology: %r", self.name, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _stop_retrying(self) -> None:
        """A retry loop ends once the process is stopping. The bus task's cancellation can come
        back out of a NATS request as a timeout; a loop that retried it kept the process from ever
        exiting (seen when uvicorn could not bind its port and shut the app down at once)."""
        if self._stopping.is_set():
            raise asyncio.CancelledError

    def _bus_done(self, task: asyncio.Task) -> None:
        """The bus task ends only at shutdown; if it died, say so loudly and fail liveness, so the
        pod is restarted instead of accepting work its relay will never publish."""
        if task.cancelled() or task.exception() is None:
            return
        self._bus_failed = task.exception()
        log.critical("%s: the NATS connection task failed; /healthz now fails so the process is restarted",
                     self.name, exc_info=self._bus_failed)

    async def _connect_bus(self) -> None:
        """Connect to NATS (retrying until it is there), declare the topology, start
        the relay and the consumers."""
        s = self.settings
        self.nc = await self._until_up(
            f"NATS at {s.nats_url}",
            lambda: asyncio.wait_for(nats.connect(s.nats_url.split(","), name=f"moksori-{self.name}",
                                                  max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                                                  connect_timeout=2, **self._nats_tls), self._connect_bound),
            nats_unavailable, first_delay=0.2)
        self.js = self.nc.jetstream()
        await self._topology()
        self.relay = Relay(self.pool, self.js, self.outbox)
        self._tasks.append(asyncio.create_task(self.relay.run(self._stop), name=f"{self.name}-relay"))
        keeper = Housekeeper(self.pool, self.name, inbox_keep_days=s.inbox_keep_days, retention=self._retention)
        self._tasks.append(asyncio.create_task(keeper.run(self._stop, s.housekeeping_interval_s),
                                               name=f"{self.name}-housekeeping"))
        for make in self._background:
            self._tasks.append(asyncio.create_task(make(self._stop)))
        for spec, expect, process, _, redact in self._pending:
            self._consumers[f"{spec.stream}:{spec.durable}"] = IdempotentConsumer(
                spec, schema=self.name, pool=self.pool, js=self.js, expect=expect, process=process,
                after_commit=self.wake_relay, redact=redact, metrics=self.metrics, relay=self.relay,
                stopping=self._stopping)
        normalise_fetch_timeouts()
        await self._start_broker()
        self._broker_started = True
        log.info("%s ready: http://%s:%d", self.name, s.http_host, s.http_port)

    async def _start_broker(self) -> None:
        """FastStream's `broker.start()`, one subscriber at a time. Starting a pull subscriber asks
        JetStream for its consumer; while a cluster node is away (a leader election) that request
        can time out. It is tried again for that subscriber alone (one already started is not
        started twice), instead of ending the bus task and leaving the process unable to consume
        until the orchestrator restarts it. The streams are declared by `_topology`, not here."""
        await self._until_up("NATS (consumers' connection)",
                             lambda: asyncio.wait_for(self.broker.connect(), self._connect_bound), nats_unavailable,
                             first_delay=0.2)
        for sub in self.broker.subscribers:
            durable = getattr(getattr(sub, "config", None), "durable_name", None) or sub.subject
            await self._until_up(f"JetStream to start consumer {durable}", sub.start,
                                 nats_unavailable, first_delay=0.5)
        for pub in self.broker.publishers:
            await pub.start()
        self.broker.running = True

    async def _shutdown(self) -> None:
        log.info("%s draining", self.name)
        self._stopping.set()
        bus = self._tasks[0]
        if not bus.done():
            bus.cancel()
            await asyncio.wait([bus], timeout=5)
        if self._broker_started:
            await self.broker.stop()  # stop pulling; unacked messages are redelivered elsewhere
        self._stop.set()
        self.wake_relay()
        for t in self._tasks[1:]:
            await asyncio.wait([t], timeout=5)
        if self.relay:
            await self.relay.drain()
        if self.nc and not self.nc.is_closed:
            try:
                await self.nc.drain()
            except (nats.errors.Error, OSError, asyncio.TimeoutError) as exc:  # NATS away: close, and go on
                log.warning("draining NATS failed (%r); closing the connection", exc)
                await self.nc.close()
        if self.pool:
            await self.pool.close()
        log.info("%s stopped", self.name)

    async def _scrape_outbox(self) -> None:
        if self.pool is None:
            raise RuntimeError("not connected to PostgreSQL yet")
        self.metrics.outbox_pending.set(await self.pool.fetchval(self.outbox.COUNT_PENDING))

    async def _healthz(self) -> JSONResponse:
        body = {"status": "alive", "nats_connected": bool(self.nc and self.nc.is_connected),
                "outbox_relay": self.relay is not None}
        if self._bus_failed is not None:
            return JSONResponse(body | {"status": "failed", "error": repr(self._bus_failed)}, status_code=503)
        return JSONResponse(body)

    async def _readyz(self) -> JSONResponse:
        problems = []
        if self.needs_nats_to_serve and not (self.nc and self.nc.is_connected):
            problems.append("nats: not connected")
        try:
            assert self.pool is not None
            await self.pool.fetchval("SELECT 1")
        except Exception as exc:
            problems.append(f"postgres: {exc!r}")
        return JSONResponse({"status": "ready" if not problems else "not ready", "problems": problems},
                            status_code=200 if not problems else 503)

    def serve(self) -> None:
        """One process, or `HTTP_WORKERS` processes sharing the port: every worker runs the
        whole service (its own pool, relay and consumers), which is safe because relays
        claim outbox rows with SKIP LOCKED and consumers share durable pull consumers."""
        setup_logging(self.name, self.settings.log_level)
        setup_tracing(self.name)
        common = dict(host=self.settings.http_host, port=self.settings.http_port, log_config=None,
                      access_log=False, lifespan="on", timeout_graceful_shutdown=10)
        if self.settings.http_workers > 1:
            uvicorn.run(f"services.{self.name}.entrypoint:create_app", factory=True,
                        workers=self.settings.http_workers, **common)
        else:
            uvicorn.Server(uvicorn.Config(self.http, **common)).run()


def nats_unavailable(exc: BaseException) -> bool:
    """NATS or JetStream is away or not answering yet (worth waiting for), as opposed to a refusal
    that will not change by waiting (JetStream answering 400 to a consumer's configuration)."""
    if isinstance(exc, nats.js.errors.APIError) and not isinstance(exc, nats.js.errors.ServiceUnavailableError):
        return False
    return isinstance(exc, (OSError, nats.errors.Error, asyncio.TimeoutError))


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


MAX_IDEMPOTENCY_KEY = 200


def idempotency_key_header(description: str):
    """The optional `Idempotency-Key` request header, the same rule wherever it is taken: 1-200
    characters and not blank (a blank key would be one key for every request)."""
    return Header(min_length=1, max_length=MAX_IDEMPOTENCY_KEY, pattern=r"\S", description=description)


ERROR_BODY = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string", "description": "what is wrong, in words"},
    "details": {"type": "array", "items": {"type": "object", "required": ["field", "error"], "properties": {
        "field": {"type": "string", "description": "the field (dotted path), or body"},
        "error": {"type": "string"}}}}}}


def _openapi_with_our_errors(app: FastAPI, generate: Callable[[], dict]) -> dict:
    """FastAPI's OpenAPI with the answers the services really give: a 422 is our error body (the
    field and what is wrong, `_validation_error`), not FastAPI's `HTTPValidationError`, and every
    route may answer 503 with Retry-After while the database is away (`storage_down`)."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = generate()
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorBody"] = ERROR_BODY
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path in doc.get("paths", {}).values():
        for op in path.values():
            answers = op.setdefault("responses", {})
            if "422" in answers:
                answers["422"] = {"description": "invalid request: each detail names a field and what is wrong",
                                  "content": body}
            answers["503"] = {"description": "the database is unavailable: retry after Retry-After seconds",
                              "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": body}
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    app.openapi_schema = doc
    return doc


def _describe(e: dict) -> dict:
    if e["type"] == "json_invalid":
        pos = e["loc"][-1] if e["loc"] and isinstance(e["loc"][-1], int) else None
        reason = (e.get("ctx") or {}).get("error", "not valid JSON")
        return {"field": "body", "error": f"malformed JSON{f' at character {pos}' if pos is not None else ''}: {reason}"}
    field = ".".join(str(p) for p in e["loc"] if p != "body")
    if not field and (named := _NAMES_FIELD.match(e["msg"])):
        field = named.group(1)  # a rule across fields (model validator) names the field it wants first
    return {"field": field or "body", "error": e["msg"]}


_NAMES_FIELD = re.compile(r"(?:Value error, )?([a-z][a-z_]*) (?:is|are|must) ")


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def storage_down(request: Request, exc: Exception) -> JSONResponse:
    if not db.storage_is_down(exc):
        raise exc  # an InterfaceError of another kind: a bug, a 500 with its traceback
    log.warning("%s %s: database unavailable, answered 503: %r", request.method, request.url.path, exc,
                exc_info=exc if isinstance(exc, asyncpg.exceptions.InternalClientError) else None)
    return JSONResponse({"error": "the database is unavailable; the request may not have been stored: retry "
                                  "shortly (with the same Idempotency-Key)"},
                        status_code=503, headers={"Retry-After": "1"})


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"error": "invalid request", "details": [_describe(e) for e in exc.errors()]},
                        status_code=422)
