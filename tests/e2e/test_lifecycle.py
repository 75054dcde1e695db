"""Affiliate teams work a case through its lifecycle over HTTP; the customer sees each step."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import datetime

import httpx
import nats
import pytest

from services import devrun
from tests.e2e.pages import run_page_script

pytestmark = pytest.mark.e2e


async def routed(http, case_id: str) -> dict:
    for _ in range(100):
        r = await http["routing"].get(f"/v1/cases/{case_id}")
        if r.status_code == 200:
            return r.json()
        await asyncio.sleep(0.1)
    raise AssertionError("never routed")


async def timeline(http, accepted: dict, want: str) -> dict:
    for _ in range(100):
        body = (await http["intake"].get(accepted["status_url"],
                                         headers={"X-Case-Secret": accepted["access_secret"]})).json()
        if any(t["status"] == want or want in t["message"] for t in body["timeline"]):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"{want} never reached the timeline: {body}")


async def test_card_team_works_a_complaint_through_its_lifecycle(system, http):
    nc = await nats.connect(system.nats_url)
    notices: list[dict] = []

    async def on_notice(msg):
        notices.append(json.loads(msg.data))

    await nc.subscribe("voc.notice.>", cb=on_notice)
    queued: list[tuple[str, dict]] = []  # what the teams' queues (voc.routed.<affiliate>.<team>) get

    async def on_routed(msg):
        queued.append((msg.subject, json.loads(msg.data)))

    await nc.subscribe("voc.routed.>", cb=on_routed)
    await nc.flush()
    accepted = (await http["intake"].post("/v1/voc", json={
        "channel": "web", "affiliate": "card",
        "text": "카드 연회비가 안내받은 것과 다르게 청구되었습니다. 확인 부탁드립니다."})).json()
    case_id = accepted["case_id"]
    case = await routed(http, case_id)
    keys = devrun.team_keys(system.var)
    card = {"X-Api-Key": keys["card"], "X-Staff-Id": "C2019114"}  # a card team employee
    bank = {"X-Api-Key": keys["bank"], "X-Staff-Id": "B2015032"}
    r = http["routing"]
    assert (await r.get(f"/v1/cases/{case_id}", headers=bank)).status_code == 404  # not the bank's case
    assert (await r.post(f"/v1/cases/{case_id}/acknowledge", headers=bank,
                         json={"handler_name": "은행직원", "handler_contact": "02-000-0000"})).status_code == 404
    assert (await r.get(f"/v1/cases/{case_id}")).status_code == 200  # the group office sees all

    ok = await r.post(f"/v1/cases/{case_id}/acknowledge", headers=card,
                      json={"handler_name": "김민지", "handler_contact": "02-1588-0000"})
    assert ok.status_code == 200
    ok = await r.post(f"/v1/cases/{case_id}/request-info", headers=card, json={"what": "카드 이용대금 명세서"})
    assert ok.json()["event"] == "CaseInfoRequested"
    await timeline(http, accepted, "waiting_for_documents")
    # asked again for the same: a retry, unchanged; asked for more: the customer is told, the clock stays paused
    same = await r.post(f"/v1/cases/{case_id}/request-info", headers=card, json={"what": "카드 이용대금 명세서"})
    assert same.json()["status"] == "unchanged"
    more = await r.post(f"/v1/cases/{case_id}/request-info", headers=card, json={"what": "가맹점 영수증 사본"})
    assert more.json()["status"] == "recorded" and more.json()["data"]["paused_at"] == ok.json()["data"]["paused_at"]
    waiting = (await r.get(f"/v1/cases/{case_id}")).json()  # the office's key (the card's reads are checked below)
    assert waiting["status"] == "waiting_info" and waiting["info_requested"] == "가맹점 영수증 사본"
    bad = await r.post(f"/v1/cases/{case_id}/resolve", headers=card, json={"resolution": "x", "outcome": "maybe"})
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "outcome"
    await asyncio.sleep(1.0)
    ok = await r.post(f"/v1/cases/{case_id}/provide-info", headers=card,
                      json={"note": "명세서 사본 수령, 회신 연락처 010-2345-6789"})
    moved_due = ok.json()["data"]["resolve_due"]
    note = ok.json()["data"]["note"]  # kept with the step, masked like all staff free text
    assert note.startswith("명세서 사본 수령") and "2345-6789" not in note, note
    # a pause within one business day does not move the deadline (a longer one moves it by the business
    # days it covered: tests/unit/test_routing_rules.py)
    assert datetime.fromisoformat(moved_due) == datetime.fromisoformat(case["resolve_due"])
    ok = await r.post(f"/v1/cases/{case_id}/extend", headers=card,
                      json={"reason": "가맹점 확인에 시일이 소요됩니다", "business_days": 10})
    assert ok.status_code == 200
    again = await r.post(f"/v1/cases/{case_id}/extend", headers=card, json={"reason": "한 번 더", "business_days": 3})
    assert again.status_code == 409 and "already extended" in again.json()["error"]
    corrected = "points_benefits" if case["topic"] == "card_payment" else "card_payment"  # a real change
    ok = await r.post(f"/v1/cases/{case_id}/reclassify", headers=card,
                      json={"kind": "complaint", "topic": corrected, "by": "김민지"})
    assert ok.status_code == 200
    ok = await r.post(f"/v1/cases/{case_id}/transfer", headers=card,
                      json={"affiliate": "bank", "team": "general", "reason": "결제 계좌 관련", "by": "박팀장"})

    carried = datetime.fromisoformat(ok.json()["data"]["resolve_due"].replace("Z", "+00:00"))
    assert carried == datetime.fromisoformat((await r.get(f"/v1/cases/{case_id}")).json()["resolve_due"])
    assert (await r.get(f"/v1/cases/{case_id}", headers=card)).status_code == 404  # now the bank's
    assert (await r.get(f"/v1/cases/{case_id}", headers=bank)).status_code == 200
    ok = await r.post(f"/v1/cases/{case_id}/resolve", headers=bank,
                      json={"resolution": "연회비 차액 환급 완료", "outcome": "accepted"})
    assert ok.json()["data"]["within_sla"] is True
    ok = await r.post(f"/v1/cases/{case_id}/reopen", headers=bank, json={"reason": "환급액이 다릅니다"})
    assert ok.status_code == 200
    body = await timeline(http, accepted, "reopened")
    messages = " ".join(t["message"] for t in body["timeline"])
    assert "분류를 정정" in messages and "서류 보완을 요청" in messages and "연장되었습니다. 사유: 가맹점 확인에" in messages and "이관되었습니다" in messages
    assert body["status"] == "reopened"
    # the bank team got the case on its queue when it was transferred, and again when it was reopened (before,
    # only CaseTransferred went out, on a subject no team reads); the customer's timeline shows no new routing
    for _ in range(50):
        mine = [(subject, m) for subject, m in queued if m["case_id"] == case_id]
        if len(mine) == 3:
            break
        await asyncio.sleep(0.1)
    assert [(subject, m.get("handoff")) for subject, m in mine] == [
        ("voc.routed.card.general", None), ("voc.routed.bank.general", "transferred"),
        ("voc.routed.bank.general", "reopened")]
    handed = mine[1][1]
    assert handed["text"] == mine[0][1]["text"] and handed["topic"] == corrected and handed["ack_due"] is None
    assert handed["handoff_reason"] == "결제 계좌 관련"
    assert datetime.fromisoformat(handed["resolve_due"].replace("Z", "+00:00")) == carried  # the SLA carried over
    assert sum("배정되었습니다" in t["message"] for t in body["timeline"]) == 1  # the transfer's own entry tells it
    history = [(h["event"], h["staff_id"]) for h in (await r.get(f"/v1/cases/{case_id}")).json()["history"]]
    assert history == [("CaseAcknowledged", "C2019114"), ("CaseInfoRequested", "C2019114"),
                       ("CaseInfoRequested", "C2019114"), ("CaseInfoProvided", "C2019114"),
                       ("CaseExtended", "C2019114"), ("CaseReclassified", "C2019114"), ("CaseTransferred", "C2019114"),
                       ("CaseResolved", "B2015032"), ("CaseReopened", "B2015032")]
    # every opening of the case is kept, with whose key and which employee: the office's own reads too
    reads = (await r.get(f"/v1/cases/{case_id}/reads")).json()  # the office's key
    assert [(x["affiliate"], x["staff_id"]) for x in reads][-2:] == [("bank", "B2015032"), ("group", "O2026001")]
    assert {x["affiliate"] for x in reads} == {"group", "bank"}  # refused reads (404) are not openings
    # an affiliate does not see who looked into its cases (an employee under review is not tipped off)
    refused = await r.get(f"/v1/cases/{case_id}/reads", headers=bank)
    assert refused.status_code == 403 and "consumer-protection office" in refused.json()["error"]
    # the bank sees what the card company did before the transfer, not who at the card company did it
    seen = (await r.get(f"/v1/cases/{case_id}", headers=bank)).json()["history"]
    assert [h["staff_id"] for h in seen] == [None] * 7 + ["B2015032", "B2015032"]
    assert "handler_name" not in seen[0]["data"] and "by" not in seen[6]["data"] and seen[6]["data"]["reason"]
    assert "처리 결과: 수용" in messages
    # the customer was told each step that asks something of them or changes what they were promised
    for _ in range(50):
        told = {n["notice"]: n["message"] for n in notices if n["case_id"] == case_id}
        if "reopened" in told and "survey" in told:
            break
        await asyncio.sleep(0.1)
    # routing's notices in the order of the steps; feedback's survey notice follows the resolution
    assert [k for k in told if k != "survey"] == ["receipt", "acknowledged", "info_requested", "extended",
                                                  "transferred", "resolved", "reopened"]
    assert list(told).index("survey") > list(told).index("resolved")
    survey = next(n for n in notices if n["case_id"] == case_id and n["notice"] == "survey")
    assert survey["tracking_code"] == accepted["tracking_code"] and survey["channel"] == "web"
    assert survey["delivery"] == "email" and survey["link"] in survey["message"]  # an SMS or e-mail has no button
    assert survey["message"].startswith(f"[목소리] 접수번호 {accepted['tracking_code']} 민원 처리에 만족하셨나요?")
    await timeline(http, accepted, "만족도 조사를 보내드렸습니다")
    asked = [n["message"] for n in notices if n["case_id"] == case_id and n["notice"] == "info_requested"]
    assert len(asked) == 2 and "카드 이용대금 명세서" in asked[0] and "추가로" in asked[1]  # the retry told nobody
    # the receipt notice links the customer's status page, the case's secret in the fragment: the page, its
    # script, and the status its script asks for with that secret all answer
    link = re.search(r"처리 현황: (http://\S+)/c/(VOC-\d{4}-\d{6})#(\w+)$", told["receipt"])
    assert link and link[2] == accepted["tracking_code"] and link[3] == accepted["access_secret"]
    async with httpx.AsyncClient(base_url=link[1]) as customer:  # a browser: no API key
        page = await customer.get(f"/c/{link[2]}")
        assert page.status_code == 200 and "/static/status.js" in page.text and "민원 처리 현황" in page.text
        script = await customer.get("/static/status.js")
        assert script.status_code == 200 and "X-Case-Secret" in script.text
        status = await customer.get(f"/v1/voc/{link[2]}", headers={"X-Case-Secret": link[3]})
        assert status.status_code == 200 and status.json()["status"] == "reopened"
        assert status.headers["cache-control"] == "no-store"  # the customer's own: never kept by a cache
        resolved = next(t for t in status.json()["timeline"] if t["status"] == "resolved" and "처리 결과" in t["message"])
        assert resolved["detail"]["resolution"] == "연회비 차액 환급 완료"  # the page shows the whole answer
        assert "detail.resolution" in script.text
        # the customer can rate from the status page too: the survey entry carries the same link
        asked = next(t for t in status.json()["timeline"] if t["message"] == "만족도 조사를 보내드렸습니다.")
        assert asked["detail"] == {"delivery": "email", "link": survey["link"]}
        page = run_page_script(script.text, status.json(), f"/c/{link[2]}", f"#{link[3]}")
        assert page["requests"] == [[f"/v1/voc/{link[2]}", link[3]]]
        assert page["links"] == [["만족도 평가하기", survey["link"]]] and "연회비 차액 환급 완료" in page["ids"]["timeline"]
        assert (await customer.get("/static/dashboard.js")).status_code == 404
    async with httpx.AsyncClient() as customer:
        form = await customer.get(survey["link"])
        assert form.status_code == 200 and "만족" in form.text  # feedback's survey page, open with this link
    rated = await http["feedback"].post("/v1/feedback", json={"token": survey["link"].rsplit("/", 1)[1], "csat": 4})
    assert rated.status_code == 201
    status = await timeline(http, accepted, "rated")
    page = run_page_script(script.text, status, f"/c/{link[2]}", f"#{link[3]}")
    assert page["links"] == [] and "소중한 평가 감사합니다" in page["ids"]["timeline"]  # rated once: no button left
    assert "처리 결과: 수용" in told["resolved"] and "연회비 차액 환급 완료" in told["resolved"]
    await nc.drain()


async def test_suggestion_review_outcome(system, http):
    accepted = (await http["intake"].post("/v1/voc", json={
        "channel": "app", "affiliate": "bank", "kind": "suggestion",
        "text": "적금 만기 때 같은 조건으로 자동 재예치되는 기능이 있으면 좋겠어요."})).json()
    case = await routed(http, accepted["case_id"])
    assert case["team"] == "suggestions_review"
    key = devrun.team_headers(system.var, "bank")
    r = await http["routing"].post(f"/v1/cases/{accepted['case_id']}/review", headers=key,
                                   json={"outcome": "adopted", "reason": "상품개발부 검토 후 반영 예정"})
    assert r.json()["event"] == "SuggestionReviewed"
    await timeline(http, accepted, "제안이 채택되었습니다")
    async with httpx.AsyncClient(base_url=system.url("routing")) as anon:
        assert (await anon.get(f"/v1/cases/{accepted['case_id']}")).status_code == 401


async def test_the_customers_suggestion_category_reaches_the_review(system, http, db):
    """Chosen in the 고객 제안 menu, carried by intake, the classifier and routing to the reviewing team's
    queue, and kept by a review that names no category of its own: the report counts it there."""
    nc = await nats.connect(system.nats_url)
    js = nc.jetstream()
    accepted = (await http["intake"].post("/v1/voc", json={
        "channel": "app", "affiliate": "securities", "suggestion_category": "new_business",
        "text": "해외주식 소수점 투자를 적립식으로 자동 매수하는 서비스를 만들어 주시면 좋겠습니다."})).json()
    case = await routed(http, accepted["case_id"])
    assert (case["kind"], case["team"], case["customer_category"]) == ("suggestion", "suggestions_review",
                                                                        "new_business")
    sub = await js.pull_subscribe_bind("team-securities-suggestions-review", stream="VOC_ROUTED")
    seen = None
    for _ in range(10):
        for m in await sub.fetch(20, timeout=2):
            await m.ack()
            if json.loads(m.data)["case_id"] == accepted["case_id"]:
                seen = json.loads(m.data)
        if seen:
            break
    assert seen and seen["suggestion_category"] == "new_business"
    r = await http["routing"].post(f"/v1/cases/{accepted['case_id']}/review",
                                   headers=devrun.team_headers(system.var, "securities"),
                                   json={"outcome": "adopted", "reason": "신상품 기획 과제로 채택"})
    assert r.status_code == 200 and r.json()["data"]["category"] == "new_business"
    for _ in range(100):  # feedback's facts, which the report reads
        if await db.fetchval("SELECT suggestion_category FROM feedback.case_facts WHERE case_id = $1",
                             uuid.UUID(accepted["case_id"])) == "new_business":
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the review's category never reached feedback's facts")
    await nc.drain()


async def card_case(system, http, text: str) -> tuple[str, dict]:
    """A card company's app VOC, routed: its case id and the card team's headers."""
    accepted = (await http["intake"].post("/v1/voc", json={"channel": "app", "affiliate": "card", "text": text})).json()
    await routed(http, accepted["case_id"])
    return accepted["case_id"], devrun.team_headers(system.var, "card")


async def test_a_teams_command_retried_with_its_idempotency_key_answers_as_the_first_did(system, http, db):
    """A retry after a timeout, when the first request did land: without a key a second provide-info is a
    409 and a transfer to another affiliate a 404 (no longer the caller's); with the key, the first answer."""
    case_id, card = await card_case(system, http, "카드 결제 취소했는데 환불이 아직 안 들어왔어요. 벌써 2주째입니다. "
                                                  "확인 좀 해주세요.")
    r = http["routing"]
    assert (await r.post(f"/v1/cases/{case_id}/request-info", headers=card,
                         json={"what": "카드 매출전표 사본"})).status_code == 200
    key = {**card, "Idempotency-Key": f"card-cs-{uuid.uuid4()}"}
    note = {"note": "매출전표 사본 수령"}
    first = await r.post(f"/v1/cases/{case_id}/provide-info", headers=key, json=note)
    again = await r.post(f"/v1/cases/{case_id}/provide-info", headers=key, json=note)
    assert first.status_code == again.status_code == 200 and first.json()["status"] == "recorded"
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert (await r.post(f"/v1/cases/{case_id}/provide-info", headers=card, json=note)).status_code == 409  # no key
    other = await r.post(f"/v1/cases/{case_id}/provide-info", headers=key, json={"note": "다른 서류"})
    assert other.status_code == 409 and other.json()["details"][0]["field"] == "Idempotency-Key"
    logged = await db.fetchval("SELECT count(*) FROM routing.case_log WHERE case_id = $1 AND event = $2",
                               uuid.UUID(case_id), "CaseInfoProvided")
    assert logged == 1  # acted on once
    move = {**card, "Idempotency-Key": f"card-cs-{uuid.uuid4()}"}
    body = {"affiliate": "bank", "team": "general", "reason": "계좌 환불 건으로 은행 확인 필요", "by": "김민지"}
    moved = await r.post(f"/v1/cases/{case_id}/transfer", headers=move, json=body)
    retried = await r.post(f"/v1/cases/{case_id}/transfer", headers=move, json=body)
    assert moved.status_code == retried.status_code == 200 and retried.json() == moved.json()
    assert (await r.post(f"/v1/cases/{case_id}/transfer", headers=card, json=body)).status_code == 404
    blank = await r.post(f"/v1/cases/{case_id}/reopen", headers={**card, "Idempotency-Key": ""},
                         json={"reason": "고객 재문의"})
    assert blank.status_code == 422


async def test_concurrent_retries_with_one_idempotency_key_act_once_and_answer_alike(system, http, db):
    """A team system that fires its retries without waiting for the first answer: the requests race for the
    key; one acts, the others wait on it and give the same answer again."""
    case_id, card = await card_case(system, http, "상담원 연결이 계속 끊겨서요ㅠㅠ 해외결제 수수료가 두번 빠져나간거 "
                                                  "같은데 확인좀 해주세여")
    r = http["routing"]
    key = {**card, "Idempotency-Key": f"card-chat-{uuid.uuid4()}"}
    body = {"reason": "해외 가맹점 이중 청구 여부를 카드 브랜드사에 확인 중이라 시일이 소요됨", "business_days": 10}
    answers = await asyncio.gather(*[r.post(f"/v1/cases/{case_id}/extend", headers=key, json=body)
                                     for _ in range(6)])
    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    assert all(a.json() == answers[0].json() for a in answers) and answers[0].json()["status"] == "recorded"
    assert sum(a.headers.get("Idempotent-Replayed") != "true" for a in answers) == 1  # one acted
    logged = await db.fetchval("SELECT count(*) FROM routing.case_log WHERE case_id = $1 AND event = $2",
                               uuid.UUID(case_id), "CaseExtended")
    assert logged == 1  # extended once; a second extension without the key would be refused (once per case)
