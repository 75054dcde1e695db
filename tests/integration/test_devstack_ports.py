"""The embedded servers start on free ports they choose themselves. A port found free can be
taken by another process (an outgoing connection's ephemeral port, say) before the server binds
it; the server then starts again on other ports instead of failing the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared import devstack
from shared.devstack import NatsServer, PostgresServer
from tests.ports import taken_port_first

pytestmark = pytest.mark.integration


@pytest.fixture
def one_taken_port(monkeypatch):
    with taken_port_first(monkeypatch, devstack) as busy:
        yield busy


def test_nats_server_starts_on_other_ports_when_its_chosen_one_was_taken(tmp_path: Path, one_taken_port):
    server = NatsServer(tmp_path / "nats", name="ports").start()
    try:
        assert server.port != one_taken_port and server.healthz()
        assert "address already in use" in server.log.read_text(errors="replace").lower()
    finally:
        server.stop()


def test_postgres_starts_on_another_port_when_its_chosen_one_was_taken(tmp_path: Path, one_taken_port):
    server = PostgresServer(tmp_path / "pg", durable=False).start()
    try:
        assert server.port != one_taken_port and server._ready()  # noqa: SLF001
        assert "address already in use" in server.log.read_text(errors="replace").lower()
    finally:
        server.stop()


def test_a_port_given_by_the_caller_is_not_changed(tmp_path: Path, one_taken_port):
    """A restart must come back on the same port (clients and cluster routes know it): a taken
    port the caller chose is an error, not a reason to move."""
    with pytest.raises(RuntimeError, match="nats-server exited"):
        NatsServer(tmp_path / "nats", port=one_taken_port, name="fixed").start()
