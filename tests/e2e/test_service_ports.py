"""A service binds its HTTP port only after it has started up, seconds after the stack chose
the port; another process may take the port meanwhile. `wait_ready` then starts the service
again on a fresh port instead of failing the run (once, and only for a port the stack chose)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from services import devrun
from tests.ports import a_taken_port, taken_port_first

pytestmark = pytest.mark.e2e


async def test_a_service_whose_chosen_port_was_taken_is_started_on_another(nats_url, database_url,
                                                                            tmp_path: Path, monkeypatch):
    with taken_port_first(monkeypatch, devrun) as busy:
        stack = devrun.Stack(var=tmp_path / "var", nats_url=nats_url, database_url=database_url)
        devrun.start_service(stack, "routing")
        try:
            await devrun.wait_ready(stack, ("routing",))
            assert stack.ports["routing"] != busy
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"{stack.url('routing')}/readyz")).status_code == 200
            assert "address already in use" in stack.log("routing").read_text(errors="replace").lower()
        finally:
            devrun.stop_services(stack)


async def test_a_port_the_caller_gave_stays_an_error(nats_url, database_url, tmp_path: Path):
    with a_taken_port() as busy:
        stack = devrun.Stack(var=tmp_path / "var", nats_url=nats_url, database_url=database_url,
                             ports={"routing": busy})
        devrun.start_service(stack, "routing")
        try:
            with pytest.raises(RuntimeError, match="routing exited"):
                await devrun.wait_ready(stack, ("routing",))
        finally:
            devrun.stop_services(stack)
