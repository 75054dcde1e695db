"""`moksori import`: good rows in, bad rows listed with line and reason, re-runs change nothing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import nats
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


async def test_a_backfilled_row_is_received_when_its_source_system_received_it(system, db, tmp_path):
    """A row's occurred_at dates the case: its tracking code, answer date, SLA clock and report day
    follow from it, and a case whose answer date has passed gets no receipt notice. A row without
    it is received at the import, with a notice; a time in the future is an error in the file."""
    tag = uuid.uuid4().hex[:8]
    old, new, later = f"BR-{tag}-old", f"APP-{tag}-new", f"WEB-{tag}-later"
    path = tmp_path / "legacy.jsonl"
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in [
        {"channel": "branch", "staff_id": "S20731", "affiliate": "bank", "channel_message_id": old,
         "occurred_at": "2025-03-04T10:30:00+09:00", "kind": "complaint",
         "text": "고객 내점. 카드 분실 후 모르는 결제 3건 발생, 금감원에 민원 넣겠다고 함. 카드 정지 및 회신 요청."},
        {"channel": "app", "affiliate": "card", "channel_message_id": new,
         "text": "카드 결제일 변경 메뉴가 어디있는지 모르겠어요ㅠ 앱에서 못 찾겠음"},
        {"channel": "web", "affiliate": "securities", "channel_message_id": later,
         "occurred_at": "2099-01-05T09:00:00+09:00", "text": "해외주식 주문 체결 알림이 안 와요"},
    ]) + "\n", encoding="utf-8")
    receipts: set[str] = set()
    alarms: list[tuple[str, str]] = []  # (subject, case id) of alerts and action requests
    nc = await nats.connect(system.nats_url)

    async def on_receipt(msg) -> None:
        receipts.add(json.loads(msg.data)["case_id"])

    async def on_alarm(msg) -> None:
        alarms.append((msg.subject, json.loads(msg.data).get("case_id")))

    await nc.subscribe("voc.notice.receipt", cb=on_receipt)
    await nc.subscribe("voc.alert.>", cb=on_alarm)
    await nc.subscribe("voc.action.>", cb=on_alarm)
    # the subscriptions reach the server before the import: run_import blocks the event loop, and the
    # running intake may publish what it committed before nats-py would have sent them
    await nc.flush()
    try:
        code, out, errors = run_import(system, path, tmp_path)
        assert code == 1, out
        assert "2 imported, 0 already there, 1 rejected" in out
        assert errors.splitlines()[1:] == ["3,occurred_at: 2099-01-05T09:00:00+09:00 is in the future"]
        rows = {r["channel_message_id"]: r for r in await db.fetch(
            "SELECT id::text, channel_message_id, received_at, tracking_code, first_response_due FROM intake.cases "
            "WHERE channel_message_id = ANY($1)", [old, new, later])}
        assert rows.keys() == {old, new}
        assert rows[old]["received_at"] == datetime(2025, 3, 4, 1, 30, tzinfo=UTC)
        assert rows[old]["tracking_code"].startswith("VOC-2025-")
        assert rows[old]["first_response_due"] < datetime.now(UTC) < rows[new]["first_response_due"]
        seoul_today = datetime.now(ZoneInfo("Asia/Seoul")).date()
        ids = [rows[old]["id"], rows[new]["id"]]
        days: dict[str, date] = {}
        for _ in range(300):  # classified, routed, counted by feedback
            days = {r["id"]: r["day"] for r in await db.fetch(
                "SELECT case_id::text AS id, day FROM feedback.case_facts WHERE case_id = ANY($1::uuid[])", ids)}
            if len(days) == 2 and rows[new]["id"] in receipts:
                break
            await asyncio.sleep(0.1)
        assert days == {rows[old]["id"]: date(2025, 3, 4), rows[new]["id"]: seoul_today}
        routed = await db.fetchrow("SELECT received_at, ack_due, resolve_due, warn_at, warned_at, breached_at, "
                                   "ack_breached_at FROM routing.cases WHERE case_id = $1::uuid", rows[old]["id"])
        assert routed["received_at"] == rows[old]["received_at"]
        # history being filed: its deadlines, long past, are marked passed at their own time, so the
        # sweeper raises no warning or breach for them; and no alert or card block for what it says
        assert (routed["warned_at"], routed["breached_at"], routed["ack_breached_at"]) == (
            routed["warn_at"], routed["resolve_due"], routed["ack_due"])
        classified = await db.fetchrow("SELECT urgency, flags FROM classifier.classifications WHERE case_id = $1::uuid",
                                       rows[old]["id"])
        assert classified["urgency"] == "critical" and "regulator" in classified["flags"]  # it would have alarmed
        await asyncio.sleep(1)
        assert rows[old]["id"] not in {case for _, case in alarms}, alarms
        assert rows[new]["id"] in receipts and rows[old]["id"] not in receipts
    finally:
        await nc.close()
