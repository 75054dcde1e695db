"""A case ref holding a NUL is an unknown case (404), not a PostgreSQL error (500)."""

from __future__ import annotations

import asyncpg
import pytest

from services.intake.adapters.apikeys import create_key

pytestmark = pytest.mark.e2e


async def test_a_ref_with_a_nul_is_an_unknown_case(system, http):
    r = await http["intake"].post("/v1/voc", json={
        "channel": "app", "affiliate": "card", "text": "해외 결제가 두 번 청구됐어요. 한 건 취소해 주세요"})
    assert r.status_code == 202, r.text
    case = r.json()
    secret = {"X-Case-Secret": case["access_secret"]}
    assert (await http["intake"].get(f"/v1/voc/{case['tracking_code']}", headers=secret)).status_code == 200
    unknown = await http["intake"].get("/v1/voc/VOC-2026-999999", headers=secret)
    conn = await asyncpg.connect(system.database_url)
    try:  # the office's reveal key (`all`): every case
        office = {"X-Api-Key": await create_key(conn, "app-privacy", ["app"], ["reveal"], 10, 10, replace=True,
                                                affiliates=["all"])}
    finally:
        await conn.close()
    for ref in (f"{case['tracking_code']}%00", f"{case['case_id']}%00", "%00"):
        status = await http["intake"].get(f"/v1/voc/{ref}", headers=secret)
        assert status.status_code == 404 == unknown.status_code, status.text
        assert status.json()["error"] == f"no case {ref.replace('%00', chr(0))!r} for these credentials"
        reveal = await http["intake"].post(f"/v1/voc/{ref}/reveal", json={"reason": "금감원 이첩 민원 회신 자료 작성"},
                                           headers=office)
        assert reveal.status_code == 404, reveal.text
