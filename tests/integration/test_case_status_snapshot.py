"""A customer's status page (GET /v1/voc/{ref}) reads the case and its timeline from one snapshot.
Read apart, a batch of events that committed between the two reads showed its entries in the
timeline but the status from before them ("reopened" in the timeline, "waiting_for_documents" as
the status: CI caught it in tests/e2e/test_lifecycle.py). Here such a batch commits, from another
connection, exactly between the two reads."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI

from services.intake.adapters import repository as repo
from services.intake.entrypoint import MIGRATIONS
from services.intake.handlers import http as intake_http
from services.intake.handlers.submit import IntakeDeps, submit_voc
from shared import db
from shared.bizcal import load_calendar
from shared.events import VocSubmission
from shared.outbox import Outbox
from shared.pii_crypto import PiiCipher

pytestmark = pytest.mark.integration


def commit_elsewhere(database_url: str, case_id: uuid.UUID) -> None:
    """The timeline consumer's batch: an entry and the status it brings, committed together, from
    another connection on another thread (the request's event loop is blocked meanwhile)."""
    async def batch() -> None:
        conn = await db.connect(database_url)  # with the services' codecs (jsonb)
        try:
            async with conn.transaction():
                await repo.write_timeline(conn, repo.TimelineWrites(
                    [(case_id, "evt-reopen", "reopened", datetime.now(UTC), "민원을 다시 살펴보고 있습니다.", {})],
                    {case_id: ("reopened", 2, datetime.now(UTC))}, {}))
        finally:
            await conn.close()

    failed: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(batch())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            failed.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if failed:
        raise failed[0]


async def test_the_status_and_the_timeline_come_from_one_snapshot(database_url, monkeypatch):
    pool = await db.create_pool(database_url)
    try:
        async with pool.acquire() as c:
            await db.migrate(c, "intake", MIGRATIONS)
        deps = IntakeDeps(cipher=PiiCipher.from_spec(PiiCipher.generate_spec()), access_key="k" * 32,
                          calendar=load_calendar(), response_days=3)
        outcome = await submit_voc(pool, deps, Outbox("intake", "moksori/intake"), VocSubmission(
            channel="app", text="환불 처리됐다고 문자 왔는데 아직 입금이 안 됐어요"), idempotency_key=None,
            submitted_by="test")
        case_id = uuid.UUID(outcome.response["case_id"])
        app = FastAPI()
        app.include_router(intake_http.router)
        app.state.intake, app.state.runtime = deps, SimpleNamespace(pool=pool)
        checked = intake_http.secret_matches

        def secret_then_a_batch_commits(*args) -> bool:  # runs after the case is read, before its timeline
            commit_elsewhere(database_url, case_id)
            return checked(*args)

        monkeypatch.setattr(intake_http, "secret_matches", secret_then_a_batch_commits)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as http:
            body = (await http.get(outcome.response["status_url"],
                                   headers={"X-Case-Secret": outcome.response["access_secret"]})).json()
        seen = [t["status"] for t in body["timeline"]]
        assert (body["status"], seen) == ("received", ["received"])  # as the snapshot was: both before
        assert await pool.fetchval("SELECT status FROM intake.cases WHERE id = $1", case_id) == "reopened"
    finally:
        await pool.close()
