"""Wires routing: directory and calendar, the classified-case and command consumers, HTTP."""

from __future__ import annotations

import logging
from pathlib import Path

from services.routing.adapters.repository import CASES_BY_STATUS
from services.routing.domain.lifecycle import STATUSES
from services.routing.handlers import events, http
from services.routing.handlers.sweeper import run_sweeper
from services.routing.settings import RoutingSettings, parse_team_keys
from shared.bizcal import load_calendar, warn_if_incomplete
from shared.bus import SERVICE_CONSUMERS, team_consumers
from shared.config import build_or_exit, load_settings
from shared.directory import load_directory
from shared.events import CASE_COMMANDS, VocClassified
from shared.runtime import Runtime
from shared.telemetry import setup_logging, setup_tracing

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: RoutingSettings) -> Runtime:
    # its HTTP routes write through the outbox and read PostgreSQL: they serve while NATS is away
    rt = Runtime("routing", settings, MIGRATIONS, needs_nats_to_serve=False)
    directory = load_directory(settings.directory_file)
    calendar = load_calendar(settings.calendar_file)
    warn_if_incomplete(calendar, settings.calendar_file, logging.getLogger("moksori.calendar"))
    rt.http.state.directory = directory
    rt.http.state.calendar = calendar
    rt.http.state.team_keys = parse_team_keys(settings.team_keys)
    rt.http.state.require_staff_id = settings.require_staff_id
    rt.http.include_router(http.router)
    rt.retain("routing.command_keys", "created_at")  # the teams' HTTP Idempotency-Keys (migration 010)
    specs = {c.durable: c for c in SERVICE_CONSUMERS if c.durable.startswith("routing")}
    rt.consume(specs["routing"], (VocClassified,), events.on_classified(rt.outbox, directory, calendar))
    rt.consume(specs["routing-commands"], CASE_COMMANDS, events.on_command(rt.outbox, calendar, directory=directory))
    rt.consume(specs["routing-team-commands"], CASE_COMMANDS,
               events.on_command(rt.outbox, calendar, from_teams=True, require_staff=settings.require_staff_id,
                                 directory=directory))
    sla = rt.metrics.counter("moksori_sla_events_total", "SLA warnings and breaches raised", ("kind",))
    rt.background(lambda stop: run_sweeper(rt.pool, rt.outbox, rt.wake_relay, stop, settings.sweep_every_s, sla))
    lag = rt.metrics.snapshot("moksori_team_queue_pending_cases", "routed cases not yet taken by the team",
                              ("affiliate", "team"))
    open_cases = rt.metrics.snapshot("moksori_cases_by_status", "routing's cases by status", ("status",))
    dlq = rt.metrics.snapshot("moksori_dlq_messages", "messages in the dead-letter stream")
    dlq_full = rt.metrics.snapshot("moksori_dlq_fill_ratio", "bytes in the dead-letter stream over its max_bytes: "
                                   "at 1 it refuses new dead letters (discard new), which then stay unacked in "
                                   "their own stream, redelivered until MaxDeliver")

    async def count_cases() -> None:
        rows = await rt.pool.fetch(CASES_BY_STATUS)
        open_cases.replace({(s,): 0 for s in STATUSES} | {(r["status"],): r["n"] for r in rows})

    async def read_queues() -> None:
        if rt.js is None:
            raise RuntimeError("not connected to JetStream yet")
        pending = {}
        for c in team_consumers():
            info = await rt.js.consumer_info(c.stream, c.durable)
            pending[tuple(c.filter_subject.split(".")[2:4])] = info.num_pending + info.num_ack_pending
        info = await rt.js.stream_info("VOC_DLQ")
        lag.replace(pending)
        dlq.set(info.state.messages)
        limit = info.config.max_bytes or 0  # -1 or unset: no limit, never full
        dlq_full.set(info.state.bytes / limit if limit > 0 else 0.0)

    rt.metrics.on_scrape("routing_cases", count_cases, open_cases)
    rt.metrics.on_scrape("team_queues", read_queues, lag, dlq, dlq_full)
    return rt


def create_app():
    """For HTTP_WORKERS > 1: uvicorn builds the app in each worker process."""
    settings = load_settings(RoutingSettings, "routing")
    setup_logging("routing", settings.log_level)
    setup_tracing("routing")
    return build(settings).http


def main() -> None:
    build_or_exit("routing", build, load_settings(RoutingSettings, "routing")).serve()
