"""`moksori import`: good rows in, bad rows listed with line and reason, re-runs change nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services import devrun

pytestmark = pytest.mark.e2e
FIXTURES = Path(__file__).parent.parent / "fixtures" / "import"


def run_import(system, path: Path, tmp_path: Path) -> tuple[int, str, str]:
    env = {**os.environ, **devrun.dev_secrets(system.var), "DATABASE_URL": system.database_url}
    errors = tmp_path / f"{path.stem}-errors.csv"
    p = subprocess.run([sys.executable, "-m", "services.cli", "import", str(path), "--errors", str(errors)],
                       env=env, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr, errors.read_text() if errors.exists() else ""


@pytest.mark.parametrize("name,good,bad_lines", [("backfill.csv", 3, [5, 6, 7]), ("backfill.jsonl", 3, [4, 5, 6])])
async def test_import_is_idempotent_and_reports_bad_rows(system, db, tmp_path, name, good, bad_lines):
    code, out, errors = run_import(system, FIXTURES / name, tmp_path)
    assert code == 1, out
    assert f"{good} imported, 0 already there, {len(bad_lines)} rejected" in out
    assert [int(line.split(",")[0]) for line in errors.strip().splitlines()[1:]] == bad_lines
    code, out, _ = run_import(system, FIXTURES / name, tmp_path)
    assert f"0 imported, {good} already there" in out
    assert await db.fetchval("SELECT count(*) FROM intake.cases WHERE submitted_by = 'bulk-import' "
                             "AND channel_message_id = ANY($1)",
                             ["CALL-20250103-0001", "BR-0193-20250104", "WEB-88213", "APP-1001",
                              "<a1@mail.example>", "CHAT-77"]) in (3, 6)
    for _ in range(100):  # the running intake's relay publishes what the import committed
        pending = await db.fetchval("SELECT count(*) FROM intake.outbox WHERE sent_at IS NULL")
        if pending == 0:
            break
        await asyncio.sleep(0.1)
    assert pending == 0


def test_csv_reason_names_the_field(system, tmp_path):
    _, out, errors = run_import(system, FIXTURES / "backfill.csv", tmp_path)
    assert "channel: Input should be" in errors
    assert "staff_id is required for the branch channel" in errors
    assert "text: Field required" in errors
