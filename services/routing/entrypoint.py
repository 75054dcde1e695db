"""Wires routing: directory and calendar, the classified-case and command consumers, HTTP."""

from __future__ import annotations

from pathlib import Path

from services.routing.domain.directory import load_directory
from services.routing.handlers import events, http
from services.routing.handlers.sweeper import run_sweeper
from services.routing.settings import RoutingSettings, parse_team_keys
from shared.bizcal import load_calendar
from shared.bus import SERVICE_CONSUMERS
from shared.config import load_settings
from shared.events import CASE_COMMANDS, VocClassified
from shared.runtime import Runtime
from shared.telemetry import setup_logging

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: RoutingSettings) -> Runtime:
    rt = Runtime("routing", settings, MIGRATIONS)
    directory = load_directory(settings.directory_file)
    calendar = load_calendar(settings.calendar_file)
    rt.http.state.directory = directory
    rt.http.state.calendar = calendar
    rt.http.state.team_keys = parse_team_keys(settings.team_keys)
    rt.http.include_router(http.router)
    specs = {c.durable: c for c in SERVICE_CONSUMERS if c.durable.startswith("routing")}
    rt.consume(specs["routing"], (VocClassified,), events.on_classified(rt.outbox, directory, calendar))
    rt.consume(specs["routing-commands"], CASE_COMMANDS, events.on_command(rt.outbox, calendar))
    rt.background(lambda stop: run_sweeper(rt.pool, rt.outbox, rt.wake_relay, stop, settings.sweep_every_s))
    return rt


def create_app():
    """For HTTP_WORKERS > 1: uvicorn builds the app in each worker process."""
    settings = load_settings(RoutingSettings, "routing")
    setup_logging("routing", settings.log_level)
    return build(settings).http


def main() -> None:
    build(load_settings(RoutingSettings, "routing")).serve()
