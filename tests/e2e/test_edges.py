"""Bad input gets a clear 4xx naming the field, and nothing is stored or published;
retries are idempotent; ratings are validated."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import httpx
import nats
import pytest

pytestmark = pytest.mark.e2e


async def intake_state(system, db) -> tuple[int, int]:
    """(cases, VocReceived messages) once the relay has published everything committed."""
    for _ in range(100):
        if not await db.fetchval("SELECT count(*) FROM intake.outbox WHERE sent_at IS NULL"):
            break
        await asyncio.sleep(0.05)
    nc = await nats.connect(system.nats_url)
    msgs = (await nc.jetstream().stream_info("VOC_INTAKE")).state.messages
    await nc.close()
    return await db.fetchval("SELECT count(*) FROM intake.cases"), msgs


@pytest.mark.parametrize("payload,field", [
    ('{"channel": "app", "text": "앱이 안 열려요"', "body"),  # truncated JSON
    (json.dumps({"channel": "fax", "text": "팩스로 보냅니다"}), "channel"),
    (json.dumps({"channel": "app", "text": ""}), "text"),
    (json.dumps({"channel": "app", "text": "   "}), "text"),
    (json.dumps({"channel": "app", "text": "가" * 20_001}), "text"),
    (json.dumps({"channel": "app"}), "text"),
    (json.dumps({"channel": "app", "text": "문의", "affiliate": "bakery"}), "affiliate"),
    (json.dumps(["channel", "app"]), "body"),
    (json.dumps({"channel": "branch", "text": "고객님 카드 재발급 문의, 창구 대기 40분 불만"}), "staff_id"),  # a per-channel rule
    (json.dumps({"channel": "chat", "text": "상담원 연결 요청"}), "transcript"),
])
async def test_bad_submission_is_rejected_naming_the_field_and_nothing_is_kept(system, http, db, payload, field):
    before = await intake_state(system, db)
    r = await http["intake"].post("/v1/voc", content=payload.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid request"
    assert field in {d["field"].split(".")[0] for d in body["details"]}, body
    await asyncio.sleep(0.3)  # a stray publish would have landed by now
    assert await intake_state(system, db) == before


async def test_same_idempotency_key_returns_the_same_case_and_never_duplicates(system, http, db):
    key = str(uuid.uuid4())
    voc = {"channel": "web", "text": "홈페이지에서 공동인증서 로그인이 계속 실패합니다. 확인 부탁드립니다."}
    first = await http["intake"].post("/v1/voc", json=voc, headers={"Idempotency-Key": key})
    before = await intake_state(system, db)
    again = await asyncio.gather(*[http["intake"].post("/v1/voc", json=voc, headers={"Idempotency-Key": key})
                                   for _ in range(5)])
    assert first.status_code == 202
    assert all(r.status_code == 202 and r.json() == first.json() for r in again)
    await asyncio.sleep(0.3)
    assert await intake_state(system, db) == before
    other = await http["intake"].post("/v1/voc", json={**voc, "text": "다른 내용입니다"},
                                      headers={"Idempotency-Key": key})
    assert other.status_code == 409 and other.json()["details"][0]["field"] == "Idempotency-Key"


async def test_a_blank_idempotency_key_is_refused_rather_than_shared_by_every_submission(http):
    # (httpx will not send a key of spaces; the fast path's unit test covers one: tests/unit/test_fast_submit.py)
    voc = {"channel": "app", "text": "앱에서 이체하려는데 계속 오류 떠요ㅠㅠ 빨리 확인 부탁드려요"}
    r = await http["intake"].post("/v1/voc", json=voc, headers={"Idempotency-Key": ""})
    assert r.status_code == 422, r.text
    assert any("idempotency" in d["field"].lower() for d in r.json()["details"]), r.json()


async def test_channel_message_id_deduplicates_without_a_key(http):
    voc = {"channel": "email", "channel_message_id": f"<{uuid.uuid4()}@mail.example.kr>",
           "text": "안녕하십니까. 지난 11월 20일 신청한 대출 서류 진행 상황을 문의드립니다."}
    a = await http["intake"].post("/v1/voc", json=voc)
    b = await http["intake"].post("/v1/voc", json=voc)
    assert a.json()["case_id"] == b.json()["case_id"]
    assert b.headers.get("Idempotent-Replayed") == "true"


async def test_another_channel_systems_message_id_is_its_own(system, http, db):
    """The same e-mail reached two affiliates' mailboxes: each system's VOC is a case of its own. Before,
    the second system was answered with the first one's case, tracking code and status secret."""
    message_id = f"<{uuid.uuid4()}@mail.example.kr>"
    voc = {"channel": "email", "channel_message_id": message_id,
           "text": "카드사와 은행에 같이 보냅니다. 자동이체 출금일이 바뀌었다는 안내를 받지 못했습니다."}
    first = await http["intake"].post("/v1/voc", json=voc)
    other_key = await new_key(system, "bank-mailbox", ["email"], ["submit", "read"])
    theirs = [await http["intake"].post("/v1/voc", json=voc, headers={"X-Api-Key": other_key})]
    # an id the first system used for another text: the second system's own VOC, not a 409
    used = {**voc, "channel_message_id": f"<{uuid.uuid4()}@mail.example.kr>"}
    assert (await http["intake"].post("/v1/voc", json=used)).status_code == 202
    theirs.append(await http["intake"].post("/v1/voc", headers={"X-Api-Key": other_key}, json={
        **used, "text": "은행 고객센터에 보낸 메일입니다. 출금 계좌 변경 문의드립니다."}))
    assert first.status_code == 202 and [r.status_code for r in theirs] == [202, 202]
    assert "Idempotent-Replayed" not in theirs[0].headers
    assert theirs[0].json()["case_id"] != first.json()["case_id"]
    assert theirs[0].json()["access_secret"] != first.json()["access_secret"]
    again = await http["intake"].post("/v1/voc", json=voc, headers={"X-Api-Key": other_key})
    assert again.json() == theirs[0].json() and again.headers.get("Idempotent-Replayed") == "true"
    cases = await db.fetch("SELECT submitted_by FROM intake.cases WHERE channel_message_id = $1", message_id)
    assert sorted(r["submitted_by"] for r in cases) == ["bank-mailbox", "e2e"]


async def test_a_case_secret_outside_ascii_is_a_404_not_a_500(system, http):
    r = await http["intake"].post("/v1/voc", json={"channel": "app", "text": "이체 한도 변경이 안 돼요"})
    async with httpx.AsyncClient(base_url=system.url("intake")) as customer:
        for ref in (r.json()["tracking_code"], "VOC-1999-999999"):  # existing or not: the same answer
            got = await customer.get(f"/v1/voc/{ref}", headers={"X-Case-Secret": "비밀번호".encode()})
            assert got.status_code == 404, got.text


async def test_status_needs_the_case_secret_or_a_reading_key(system, http):
    r = await http["intake"].post("/v1/voc", json={"channel": "app", "text": "포인트 적립이 안 됐어요"})
    code, case_id, secret = r.json()["tracking_code"], r.json()["case_id"], r.json()["access_secret"]
    async with httpx.AsyncClient(base_url=system.url("intake")) as customer:  # no API key
        assert (await customer.get(f"/v1/voc/{code}")).status_code == 404
        assert (await customer.get(f"/v1/voc/{code}", headers={"X-Case-Secret": "guess"})).status_code == 404
        ok = await customer.get(f"/v1/voc/{case_id}", headers={"X-Case-Secret": secret})
        assert ok.status_code == 200 and ok.json()["tracking_code"] == code
        assert ok.json()["expected_resolution"]
    assert (await http["intake"].get(f"/v1/voc/{code}")).status_code == 200  # the channel's key, role read
    web_only = await new_key(system, "web-only", ["web"], ["submit", "read"])
    other = await http["intake"].get(f"/v1/voc/{code}", headers={"X-Api-Key": web_only})
    assert other.status_code == 404  # affiliates and channels see only their own cases
    # another system on the same channel (channels are shared by the affiliates) does not either
    same_channel = await new_key(system, "card-app-backend", ["app", "chat"], ["submit", "read"])
    assert (await http["intake"].get(f"/v1/voc/{code}", headers={"X-Api-Key": same_channel})).status_code == 404


async def new_key(system, name, channels, roles, rate=100.0, burst=100, affiliates=()) -> str:
    from services.intake.adapters.apikeys import create_key

    conn = await asyncpg.connect(system.database_url)
    try:
        return await create_key(conn, name, channels, roles, rate, burst, replace=True, affiliates=affiliates)
    finally:
        await conn.close()


async def test_keys_gate_submission(system, http, db):
    before = await intake_state(system, db)
    voc = {"channel": "app", "text": "앱 로그인 오류"}
    async with httpx.AsyncClient(base_url=system.url("intake")) as anon:
        r = await anon.post("/v1/voc", json=voc)
        assert r.status_code == 401 and "API key" in r.json()["error"]
        r = await anon.post("/v1/voc", json=voc, headers={"X-Api-Key": "mk_nope_nope"})
        assert r.status_code == 401
        web_only = await new_key(system, "web-form", ["web"], ["submit"])
        r = await anon.post("/v1/voc", json=voc, headers={"Authorization": f"Bearer {web_only}"})
        assert r.status_code == 403 and r.json()["details"][0]["field"] == "channel"
        reader = await new_key(system, "reader", ["app"], ["read"])
        assert (await anon.post("/v1/voc", json=voc, headers={"X-Api-Key": reader})).status_code == 403
    await asyncio.sleep(0.3)
    assert await intake_state(system, db) == before


async def test_rate_limit_answers_429_with_retry_after(system):
    slow = await new_key(system, "slow-partner", ["partner"], ["submit"], rate=0.5, burst=2)
    async with httpx.AsyncClient(base_url=system.url("intake"), headers={"X-Api-Key": slow}) as c:
        codes = [(await c.post("/v1/voc", json={"channel": "partner", "text": f"제휴사 접수 {i}"})) for i in range(4)]
    assert [r.status_code for r in codes[:2]] == [202, 202]
    limited = codes[2]
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1


async def test_oversized_and_non_utf8_bodies(system, http, db):
    before = await intake_state(system, db)
    big = b'{"channel": "app", "text": "' + "가".encode() * 100_000 + b'"}'
    r = await http["intake"].post("/v1/voc", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    euc_kr = '{"channel": "app", "text": "카드 분실"}'.encode("euc-kr")
    r = await http["intake"].post("/v1/voc", content=euc_kr, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["details"][0]["field"] == "body"
    assert await intake_state(system, db) == before


async def test_reveal_needs_the_role_and_is_audited(system, http, db):
    r = await http["intake"].post("/v1/voc", json={
        "channel": "phone", "customer": "홍길동 850315-1234567", "text": "제 번호 010-9876-5432로 연락 주세요"})
    case_id = r.json()["case_id"]
    stored = await db.fetchrow("SELECT text_masked, text_encrypted FROM intake.cases WHERE id = $1", uuid.UUID(case_id))
    assert "5432" not in stored["text_masked"] and b"5432" not in stored["text_encrypted"]
    submit_only = await new_key(system, "phone-gw", ["phone"], ["submit", "read"])
    denied = await http["intake"].post(f"/v1/voc/{case_id}/reveal", json={"reason": "민원 회신 자료 작성 목적"},
                                       headers={"X-Api-Key": submit_only})
    assert denied.status_code == 403
    short = await http["intake"].post(f"/v1/voc/{case_id}/reveal", json={"reason": "그냥"})
    assert short.status_code == 422 and short.json()["details"][0]["field"] == "reason"
    # the office's keys (`all`) see every case (tests/e2e/test_reveal_scope.py: an affiliate's only its own)
    email_officer = await new_key(system, "email-gw-privacy", ["email"], ["reveal"], affiliates=["all"])
    other_channel = await http["intake"].post(f"/v1/voc/{case_id}/reveal", json={"reason": "금감원 이첩 민원 회신 자료 작성"},
                                              headers={"X-Api-Key": email_officer})
    assert other_channel.status_code == 404 and "010-9876" not in other_channel.text
    officer = await new_key(system, "phone-gw-privacy", ["phone"], ["reveal"], affiliates=["all"])
    ok = await http["intake"].post(f"/v1/voc/{case_id}/reveal", json={"reason": "금감원 이첩 민원 회신 자료 작성"},
                                   headers={"X-Api-Key": officer})
    assert ok.status_code == 200
    assert "010-9876-5432" in ok.json()["original"]["text"]
    assert "850315-1234567" in ok.json()["original"]["customer"]
    audit = await db.fetch("SELECT key_name, reason FROM intake.reveal_audit WHERE case_id = $1", uuid.UUID(case_id))
    assert [(a["key_name"], a["reason"]) for a in audit] == [("phone-gw-privacy", "금감원 이첩 민원 회신 자료 작성")]


async def test_lifecycle_commands_are_validated(http):
    unknown = uuid.uuid4()
    r = await http["routing"].post(f"/v1/cases/{unknown}/resolve", json={"resolution": "완료"})
    assert r.status_code == 404
    r = await http["routing"].post(f"/v1/cases/{unknown}/acknowledge", json={"handler_name": ""})
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["details"]} == {"handler_name", "handler_contact"}
    r = await http["routing"].post("/v1/cases/not-a-uuid/resolve", json={"resolution": "완료"})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "path.case_id"
    # a key says which team, not who: reading or acting names the employee, for the case's audit log
    anonymous = {"X-Api-Key": http["routing"].headers["X-Api-Key"]}
    async with httpx.AsyncClient(base_url=str(http["routing"].base_url), timeout=10) as bare:
        for method, path in (("POST", f"/v1/cases/{unknown}/resolve"), ("GET", f"/v1/cases/{unknown}"),
                             ("GET", f"/v1/cases/{unknown}/reads")):
            r = await bare.request(method, path, headers=anonymous, json={"resolution": "완료"})
            assert r.status_code == 400 and "X-Staff-Id is required" in r.json()["error"], (path, r.text)
        r = await bare.post(f"/v1/cases/{unknown}/resolve", headers={**anonymous, "X-Staff-Id": "kim/daeri"},
                            json={"resolution": "완료"})
        assert r.status_code == 400 and "X-Staff-Id must be" in r.json()["error"]


async def test_rating_range_tokens_and_repeats(system, http, db):
    nc = await nats.connect(system.nats_url)
    tokens: asyncio.Queue = asyncio.Queue()

    async def on_survey(msg):
        await tokens.put(json.loads(msg.data))

    await nc.subscribe("voc.feedback.survey_requested", cb=on_survey)
    r = await http["intake"].post("/v1/voc", json={
        "channel": "chat", "affiliate": "insurance", "text": "실손 보험금 청구 서류 뭐 내야 되나요?? ㅠㅠ",
        "transcript": [{"speaker": "bot", "text": "안녕하세요 목소리생명 챗봇입니다. 무엇을 도와드릴까요?"},
                       {"speaker": "customer", "text": "보험금 청구할려구요"},
                       {"speaker": "bot", "text": "상담원을 연결해 드릴게요."}]})
    case_id = r.json()["case_id"]
    for _ in range(100):
        if (await http["routing"].get(f"/v1/cases/{case_id}")).status_code == 200:
            break
        await asyncio.sleep(0.1)
    await http["routing"].post(f"/v1/cases/{case_id}/resolve", json={"resolution": "필요 서류 안내 완료"})
    survey = await asyncio.wait_for(tokens.get(), 15)
    while survey["case_id"] != case_id:
        survey = await asyncio.wait_for(tokens.get(), 15)
    fb = http["feedback"]

    bad = await fb.post("/v1/feedback", json={"token": survey["token"], "csat": 6})
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "csat"
    bad = await fb.post("/v1/feedback", json={"token": survey["token"], "nps": -1})
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "nps"
    forged = await fb.post("/v1/feedback", json={"token": survey["token"][:-3] + "abc", "csat": 5})
    assert forged.status_code == 400 and forged.json()["details"][0]["field"] == "token"
    assert await db.fetchval("SELECT count(*) FROM feedback.responses WHERE case_id = $1", uuid.UUID(case_id)) == 0

    first = await fb.post("/v1/feedback", json={"token": survey["token"], "csat": 3, "ces": 4})
    same = await fb.post("/v1/feedback", json={"token": survey["token"], "csat": 3, "ces": 4})
    different = await fb.post("/v1/feedback", json={"token": survey["token"], "csat": 1, "ces": 4})
    assert (first.status_code, same.status_code, different.status_code) == (201, 200, 409)
    assert same.json()["status"] == "repeated"
    await nc.drain()


async def test_purge_removes_originals_past_retention(system, http, db):
    import subprocess
    import sys

    r = await http["intake"].post("/v1/voc", json={"channel": "web", "text": "연락처 010-5555-6666 변경 요청"})
    case_id = uuid.UUID(r.json()["case_id"])
    await db.execute("UPDATE intake.cases SET received_at = now() - interval '400 days', status = 'rated', "
                     "status_at = now() + interval '1 day' "
                     "WHERE id = $1", case_id)
    # a call that became this case, one that never became a case, one whose end never came, a recent one
    for call, case, ended in (("c-case", case_id, 400), ("c-none", None, 400), ("c-recent", None, 1)):
        await db.execute("INSERT INTO intake.calls (call_id, ended_at, outcome, customer_encrypted, summary_encrypted, "
                         "case_id) VALUES ($1, now() - make_interval(days => $3), 'none', '\\x01', '\\x02', $2)",
                         call, case, ended)
    for call, age in (("c-case", 400), ("c-none", 400), ("c-no-end", 400), ("c-recent", 1)):
        await db.execute("INSERT INTO intake.call_segments (call_id, seq, speaker, text_encrypted, ts) "
                         "VALUES ($1, 1, 'customer', '\\x03', now() - make_interval(days => $2))", call, age)
    out = subprocess.run([sys.executable, "-m", "services.cli", "purge", "--older-than-days", "365"],
                         env={**__import__("os").environ, "DATABASE_URL": system.database_url},
                         capture_output=True, text=True, check=True).stdout
    assert "purged the originals of 1 cases" in out
    row = await db.fetchrow("SELECT text_encrypted, text_masked, purged_at FROM intake.cases WHERE id = $1", case_id)
    assert row["text_encrypted"] == b"" and row["purged_at"] is not None and "010-5555-****" in row["text_masked"]
    left = {r["call_id"] for r in await db.fetch("SELECT call_id FROM intake.call_segments WHERE call_id LIKE 'c-%'")}
    assert left == {"c-recent"}
    kept = {r["call_id"] for r in await db.fetch(
        "SELECT call_id FROM intake.calls WHERE call_id LIKE 'c-%' AND customer_encrypted IS NOT NULL")}
    assert kept == {"c-recent"}
    office = await new_key(system, "web-privacy", ["web"], ["reveal"], affiliates=["all"])
    gone = await http["intake"].post(f"/v1/voc/{case_id}/reveal", json={"reason": "보존기간 경과 후 열람 시도"},
                                     headers={"X-Api-Key": office})
    assert gone.status_code == 410
