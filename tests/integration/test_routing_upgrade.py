"""Routing's migrations on a database that already holds cases, against real PostgreSQL: what a migration
fills in for the rows it finds must be what the new code would have written."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import asyncpg
import pytest

from shared import db

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "routing" / "migrations"

ADD_CASE = """
INSERT INTO routing.cases (case_id, tracking_code, channel, affiliate, team, kind, topic, urgency, flags, status,
                           received_at, resolve_due)
VALUES ($1, $2, 'app', 'card', 'general', 'complaint', 'card_payment', 'normal', '{}', $3, now(), now() + '14 days')"""
LOG = "INSERT INTO routing.case_log (case_id, event, data) VALUES ($1, $2, $3)"


async def test_cases_waiting_at_upgrade_keep_the_documents_they_were_last_asked_for(database_url, tmp_path: Path):
    """011: a case waiting for documents gets the latest request's `what` (a second request for the same is
    then a retry, not a new notice); a case no longer waiting gets none."""
    for f in sorted(MIGRATIONS.glob("*.sql")):
        if f.name < "011":
            shutil.copy(f, tmp_path)
    conn = await asyncpg.connect(database_url)
    try:
        await db.migrate(conn, "routing", tmp_path)
        waiting, resumed = uuid.uuid4(), uuid.uuid4()
        await conn.execute(ADD_CASE, waiting, "VOC-2026-000001", "waiting_info")
        await conn.execute(ADD_CASE, resumed, "VOC-2026-000002", "acknowledged")
        for case_id, what in ((waiting, "거래내역서"), (resumed, "신분증 사본"), (waiting, "가맹점 영수증 사본")):
            await conn.execute(LOG, case_id, "CaseInfoRequested", json.dumps({"what": what}))
        await conn.execute(LOG, resumed, "CaseInfoProvided", json.dumps({"note": "수령"}))
        shutil.copy(MIGRATIONS / "011_info_requested.sql", tmp_path)
        assert await db.migrate(conn, "routing", tmp_path) == ["011_info_requested.sql"]
        rows = dict(await conn.fetch("SELECT case_id, info_requested FROM routing.cases"))
        assert rows == {waiting: "가맹점 영수증 사본", resumed: None}
    finally:
        await conn.close()
