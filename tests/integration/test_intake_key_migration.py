"""Intake's migration 008: the HTTP Idempotency-Keys stored before it move under their channel
system's key name, and no other path's keys move (services/intake/migrations/008_…)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import asyncpg
import pytest

from shared import db

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).parents[2] / "services" / "intake" / "migrations"
NEW = "008_http_idempotency_keys_scoped.sql"

ADD_CASE = """
INSERT INTO intake.cases (id, tracking_code, channel, idempotency_key, request_hash, text_masked, text_encrypted,
    consent, status, status_rank, received_at, first_response_due, response, submitted_by, status_at)
VALUES ($1, $2, 'app', $3, 'h', '앱 로그인이 안 돼요', '\\x00', '{}', 'received', 0, now(), now(), '{}', $4, now())"""


async def test_http_keys_move_under_their_key_name_and_the_others_stay(database_url, tmp_path: Path):
    for f in sorted(MIGRATIONS.glob("*.sql")):
        if f.name < NEW:
            shutil.copy(f, tmp_path)
    conn = await asyncpg.connect(database_url)
    try:
        await db.migrate(conn, "intake", tmp_path)
        await conn.execute("INSERT INTO intake.api_keys (key_id, name, secret_hash, channels, roles, rate_per_s, burst, "
                           "revoked_at) VALUES ('k1', 'card-app-backend', 'x', '{app}', '{submit}', 50, 100, NULL), "
                           "('k0', 'card-app-backend', 'y', '{app}', '{submit}', 50, 100, now())")
        before = {  # idempotency key -> submitted_by, one row per path
            "retry-20261101-0001": "card-app-backend",  # HTTP
            "easypay:evt-1": "nats:easypay",  # a partner on NATS
            "call:CALL-77": "stt",  # a live call's case
            "import:" + "ab" * 20: "bulk-import",  # a backfill
            "import:" + "cd" * 20: "card-app-backend",  # a backfill run under a key's name as --source
            None: "card-app-backend",  # HTTP without a key
        }
        for i, (key, by) in enumerate(before.items()):
            await conn.execute(ADD_CASE, uuid.uuid4(), f"VOC-2026-{i:06d}", key, by)
        shutil.copy(MIGRATIONS / NEW, tmp_path)
        assert await db.migrate(conn, "intake", tmp_path) == [NEW]
        after = {r["submitted_by"] + " " + str(r["idempotency_key"]) for r in
                 await conn.fetch("SELECT submitted_by, idempotency_key FROM intake.cases")}
        assert after == {"card-app-backend http:card-app-backend:retry-20261101-0001", "nats:easypay easypay:evt-1",
                         "stt call:CALL-77", "bulk-import import:" + "ab" * 20,
                         "card-app-backend import:" + "cd" * 20, "card-app-backend None"}
    finally:
        await conn.close()
