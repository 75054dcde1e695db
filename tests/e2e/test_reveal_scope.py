"""Affiliates see only their own cases, originals included. A privacy officer's reveal key is scoped by the
affiliate that has the case now, which intake learns from routing's events: the case's routing (not the
consumer-protection office's copy of a flagged case) and its transfers. Before, a reveal key was scoped by
channel alone, and the affiliates share channels: the card company's officer decrypted the bank's cases. The
office's key is `all`; `group` is the holding company, an affiliate like the others (its group points products),
whose key sees only its own cases (before, `group` was the office's scope and saw every case)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from services import devrun
from services.intake.adapters.apikeys import create_key
from shared.events import CHANNELS

pytestmark = pytest.mark.e2e

REASON = {"reason": "금감원 이첩 민원 회신 자료 작성 (민원번호 2026-1234)"}
# flagged `regulator`: routing sends the group consumer-protection office a copy (a CaseRouted to `group`)
CARD_VOC = {"channel": "app", "affiliate": "card", "customer": "홍길동 010-2345-6789",
            "text": "카드 연회비가 두 번 청구됐어요. 제 연락처는 010-2345-6789 입니다. 해결 안 되면 금감원에 민원 넣겠습니다."}
BANK_VOC = {"channel": "app", "affiliate": "bank", "customer": "김철수 010-3456-7890",
            "text": "인터넷뱅킹 계좌 이체가 세 번이나 실패했어요. 연락처 010-3456-7890 으로 전화 주세요."}
# the holding company's own case: the group points platform's product (directory: group.points -> group)
POINTS_VOC = {"channel": "app", "product": "group.points", "customer": "이영희 010-4567-8901",
              "text": "그룹 포인트가 지난달 결제분부터 적립이 안 돼요. 010-4567-8901 로 연락 부탁드립니다."}


async def officer(system, name: str, affiliates: list[str]) -> dict[str, str]:
    """A privacy officer's reveal key for every channel, scoped to `affiliates`."""
    conn = await asyncpg.connect(system.database_url)
    try:
        key = await create_key(conn, name, list(CHANNELS), ["reveal"], 100.0, 100, replace=True, affiliates=affiliates)
    finally:
        await conn.close()
    return {"X-Api-Key": key}


async def held_by(db, case_id: str, affiliate: str) -> None:
    """Until intake has the case as `affiliate`'s (its timeline consumer applied the routing or transfer)."""
    for _ in range(150):
        if await db.fetchval("SELECT affiliate FROM intake.cases WHERE id = $1", uuid.UUID(case_id)) == affiliate:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"intake never had case {case_id} as {affiliate}'s")


async def copied(db, case_id: str) -> None:
    """Until the office's copy is on intake's timeline (the consumer has applied it)."""
    for _ in range(150):
        if await db.fetchval("SELECT count(*) FROM intake.timeline WHERE case_id = $1 AND detail->>'affiliate' = "
                             "'group'", uuid.UUID(case_id)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the office's copy of {case_id} never reached intake")


async def test_a_reveal_key_sees_its_own_affiliates_cases_through_a_transfer_and_the_office_sees_all(
        system, http, db):
    card_officer = await officer(system, "card-privacy", ["card"])
    bank_officer = await officer(system, "bank-privacy", ["bank"])
    office = await officer(system, "cpo-privacy", ["all"])
    card_case = (await http["intake"].post("/v1/voc", json=CARD_VOC)).json()["case_id"]
    bank_case = (await http["intake"].post("/v1/voc", json=BANK_VOC)).json()["case_id"]
    await held_by(db, card_case, "card")
    await held_by(db, bank_case, "bank")
    await copied(db, card_case)  # the office's copy (a CaseRouted to `group`) has been applied: the case stays

    async def reveal(case_id: str, key: dict[str, str]):
        return await http["intake"].post(f"/v1/voc/{case_id}/reveal", json=REASON, headers=key)

    unknown = await reveal(str(uuid.uuid4()), card_officer)
    other = await reveal(bank_case, card_officer)
    assert other.status_code == unknown.status_code == 404  # the same as a case that does not exist
    assert other.json()["error"] == f"no case {bank_case!r} for this key" and "010-3456" not in other.text
    own = await reveal(card_case, card_officer)
    assert own.status_code == 200, own.text
    assert "010-2345-6789" in own.json()["original"]["text"]
    assert (await db.fetchval("SELECT affiliate FROM intake.cases WHERE id = $1", uuid.UUID(card_case))) == "card"
    assert (await reveal(card_case, bank_officer)).status_code == 404
    assert (await reveal(bank_case, bank_officer)).status_code == 200
    assert (await reveal(card_case, office)).status_code == (await reveal(bank_case, office)).status_code == 200

    # the card company transfers its case to the bank: from then on the case, and its original, are the bank's
    card_team = devrun.team_headers(system.var, "card")
    moved = await http["routing"].post(f"/v1/cases/{card_case}/transfer", headers=card_team, json={
        "affiliate": "bank", "team": "general", "reason": "결제 계좌 관련 확인 필요", "by": "박팀장"})
    assert moved.status_code == 200, moved.text
    await held_by(db, card_case, "bank")
    gone = await reveal(card_case, card_officer)
    assert gone.status_code == 404 and "010-2345" not in gone.text
    taken = await reveal(card_case, bank_officer)
    assert taken.status_code == 200 and "010-2345-6789" in taken.json()["original"]["text"]
    assert (await reveal(card_case, office)).status_code == 200

    audit = await db.fetch("SELECT key_name FROM intake.reveal_audit WHERE case_id = $1 ORDER BY id",
                           uuid.UUID(card_case))
    assert [a["key_name"] for a in audit] == ["card-privacy", "cpo-privacy", "bank-privacy", "cpo-privacy"]


async def test_the_holding_companys_key_sees_its_own_group_points_cases_and_the_offices_all_key_every_case(
        system, http, db):
    """`group` is the holding company's own cases (a team of the holding company that handles group points), no
    longer every affiliate's; the consumer-protection office's `all` sees every case."""
    holding = await officer(system, "points-privacy", ["group"])
    office = await officer(system, "cpo-privacy-all", ["all"])
    points_case = (await http["intake"].post("/v1/voc", json=POINTS_VOC)).json()["case_id"]
    bank_case = (await http["intake"].post("/v1/voc", json=BANK_VOC)).json()["case_id"]
    await held_by(db, points_case, "group")
    await held_by(db, bank_case, "bank")

    async def reveal(case_id: str, key: dict[str, str]):
        return await http["intake"].post(f"/v1/voc/{case_id}/reveal", json=REASON, headers=key)

    own = await reveal(points_case, holding)
    assert own.status_code == 200, own.text
    assert "010-4567-8901" in own.json()["original"]["text"]
    other = await reveal(bank_case, holding)
    assert other.status_code == 404 and other.json()["error"] == f"no case {bank_case!r} for this key"
    assert "010-3456" not in other.text
    for case_id, phone in ((points_case, "010-4567-8901"), (bank_case, "010-3456-7890")):
        seen = await reveal(case_id, office)
        assert seen.status_code == 200, seen.text
        assert phone in seen.json()["original"]["text"]
    audit = await db.fetch("SELECT case_id, key_name FROM intake.reveal_audit WHERE case_id = ANY($1) ORDER BY id",
                           [uuid.UUID(points_case), uuid.UUID(bank_case)])
    assert [(str(a["case_id"]), a["key_name"]) for a in audit] == [
        (points_case, "points-privacy"), (points_case, "cpo-privacy-all"), (bank_case, "cpo-privacy-all")]
