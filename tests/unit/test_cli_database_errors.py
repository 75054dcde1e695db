"""Database commands answer an unreachable database with a message and exit 1, not a traceback."""

import socket

import pytest
from typer.testing import CliRunner

from services.cli import app
from shared.pii_crypto import PiiCipher


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket is closed


@pytest.mark.parametrize("args", [["purge"], ["migrate"], ["keys", "revoke", "x"], ["import", "{file}"]])
def test_an_unreachable_database_is_an_error_message(tmp_path, monkeypatch, args):
    monkeypatch.setenv("DATABASE_URL", f"postgresql://moksori@127.0.0.1:{_closed_port()}/moksori")
    monkeypatch.setenv("PII_KEYS", PiiCipher.generate_spec())
    monkeypatch.setenv("CASE_ACCESS_KEY", "x" * 20)
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"channel": "app", "text": "앱에서 이체가 안 돼요"}\n', encoding="utf-8")
    result = CliRunner().invoke(app, [a.replace("{file}", str(rows)) for a in args])
    assert result.exit_code == 1, result.output
    assert "cannot use the database" in result.output and "Traceback" not in result.output
