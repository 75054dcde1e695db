"""Closing the loop: rewards for adopted suggestions (exactly once), thanks for rejected
ones, and service recovery on a poor rating."""

from __future__ import annotations

import asyncio
import json

import nats
import pytest

from services import devrun
from shared.cloudevents import encode, envelope_for
from shared.events import SuggestionReviewed

pytestmark = pytest.mark.e2e


async def submit_and_route(http, voc: dict) -> dict:
    accepted = (await http["intake"].post("/v1/voc", json=voc)).json()
    for _ in range(100):
        r = await http["routing"].get(f"/v1/cases/{accepted['case_id']}")
        if r.status_code == 200:
            return {**accepted, **r.json()}
        await asyncio.sleep(0.1)
    raise AssertionError("never routed")


async def test_adopted_suggestion_is_rewarded_exactly_once(system, http, db):
    nc = await nats.connect(system.nats_url)
    js = nc.jetstream()
    rewards: list[dict] = []

    async def on_reward(msg):
        rewards.append(json.loads(msg.data))

    await nc.subscribe("voc.feedback.reward_granted", cb=on_reward)
    case = await submit_and_route(http, {"channel": "web", "affiliate": "card", "kind": "suggestion",
                                         "text": "카드 실적 조회 화면에 남은 실적을 막대그래프로 보여주면 좋겠습니다."})
    key = devrun.team_headers(system.var, "card")
    r = await http["routing"].post(f"/v1/cases/{case['case_id']}/review", headers=key,
                                   json={"outcome": "adopted", "reason": "앱 개선 과제로 채택"})
    assert r.status_code == 200
    replay = SuggestionReviewed.model_validate(r.json()["data"])
    subject, body, headers = encode(replay, envelope_for(replay, source="moksori/routing"))  # a new event id
    await js.publish(subject, body, headers=headers)
    await asyncio.sleep(2)
    mine = [x for x in rewards if x["case_id"] == case["case_id"]]
    assert len(mine) == 1 and mine[0]["points"] == 50_000
    assert await db.fetchval("SELECT count(*) FROM feedback.rewards WHERE case_id::text = $1", case["case_id"]) == 1
    await nc.drain()


async def test_rejected_suggestion_gets_a_thank_you_notice(system, http):
    nc = await nats.connect(system.nats_url)
    notices: list[dict] = []

    async def on_notice(msg):
        notices.append(json.loads(msg.data))

    await nc.subscribe("voc.notice.thanks", cb=on_notice)
    case = await submit_and_route(http, {"channel": "app", "affiliate": "bank", "kind": "suggestion",
                                         "text": "지점 영업시간을 저녁 8시까지 늘려주시면 좋겠어요"})
    key = devrun.team_headers(system.var, "bank")
    await http["routing"].post(f"/v1/cases/{case['case_id']}/review", headers=key,
                               json={"outcome": "rejected", "reason": "인력 운영상 어려움"})
    for _ in range(50):
        if any(n["case_id"] == case["case_id"] for n in notices):
            break
        await asyncio.sleep(0.1)
    notice = next(n for n in notices if n["case_id"] == case["case_id"])
    assert "감사합니다" in notice["message"] and notice["tracking_code"] == case["tracking_code"]
    await nc.drain()


async def test_poor_rating_alerts_the_team_and_reopens_the_case(system, http, db):
    nc = await nats.connect(system.nats_url)
    surveys: asyncio.Queue = asyncio.Queue()
    alerts: list[dict] = []

    async def on_survey(msg):
        await surveys.put(json.loads(msg.data))

    async def on_alert(msg):
        alerts.append(json.loads(msg.data))

    await nc.subscribe("voc.feedback.survey_requested", cb=on_survey)
    await nc.subscribe("voc.alert.*.service_recovery", cb=on_alert)
    case = await submit_and_route(http, {"channel": "app", "affiliate": "bank",
                                         "text": "대출 상환 일정 변경을 요청했는데 반영이 안 됐어요"})
    key = devrun.team_headers(system.var, "bank")
    await http["routing"].post(f"/v1/cases/{case['case_id']}/resolve", headers=key,
                               json={"resolution": "상환 일정 변경 완료", "outcome": "accepted"})
    survey = await asyncio.wait_for(surveys.get(), 15)
    while survey["case_id"] != case["case_id"]:
        survey = await asyncio.wait_for(surveys.get(), 15)
    assert survey["link"] == f"{system.url('feedback')}/s/{survey['token']}"
    landing = await http["feedback"].get(f"/s/{survey['token']}")  # what the customer's link opens
    assert landing.status_code == 200 and "상담은 만족스러우셨나요?" in landing.text
    assert f'data-token="{survey["token"]}"' in landing.text and 'name="nps" value="10"' in landing.text
    forged = await http["feedback"].get(f"/s/{survey['token'][:-2]}xx")
    assert forged.status_code == 400 and "설문 링크를 열 수 없습니다" in forged.text and "signature" in forged.text
    r = await http["feedback"].post("/v1/feedback", json={
        "token": survey["token"], "csat": 1, "nps": 2,
        "comment": "처리됐다더니 여전히 예전 날짜로 출금돼요 너무 화가 납니다 연락처 010-2222-3333"})
    assert r.status_code == 201
    for _ in range(100):
        status = (await http["routing"].get(f"/v1/cases/{case['case_id']}")).json()["status"]
        if status == "routed" and alerts:
            break
        await asyncio.sleep(0.1)
    assert status == "routed"  # reopened for the team
    assert [a["affiliate"] for a in alerts if a["case_id"] == case["case_id"]] == ["bank"]
    row = await db.fetchrow("SELECT comment, comment_sentiment, recovery FROM feedback.responses "
                            "WHERE case_id::text = $1", case["case_id"])
    assert row["recovery"] and row["comment_sentiment"] == "negative" and "3333" not in row["comment"]
    await nc.drain()


async def test_a_digitally_vulnerable_customer_is_surveyed_by_an_agents_call(system, http):
    """Seed 002: elderly and other digitally vulnerable customers get an agent's call (해피콜) instead of a
    link; the agent enters their answers with the token, and the customer's timeline says a call is coming."""
    nc = await nats.connect(system.nats_url)
    surveys: asyncio.Queue = asyncio.Queue()

    async def on_survey(msg):
        await surveys.put(json.loads(msg.data))

    await nc.subscribe("voc.feedback.survey_requested", cb=on_survey)
    await nc.subscribe("voc.notice.survey", cb=on_survey)  # what the channel that tells customers reads
    case = await submit_and_route(http, {"channel": "app", "affiliate": "bank", "text": (
        "저희 어머니가 올해 82세 고령이신데 앱 사용을 전혀 못 하십니다. 통장 비밀번호 변경하러 지점 가셨다가 "
        "한 시간 넘게 기다리시고 그냥 돌아오셨어요. 고령자 전용 창구라도 있어야 하는 거 아닌가요?")})
    assert "vulnerable" in case["flags"], case
    key = devrun.team_headers(system.var, "bank")
    r = await http["routing"].post(f"/v1/cases/{case['case_id']}/resolve", headers=key, json={
        "resolution": "지점 방문 예약 후 우선 창구에서 비밀번호 변경을 도와드렸습니다", "outcome": "accepted"})
    assert r.json()["data"]["flags"] == case["flags"]
    mine: list[dict] = []
    while len(mine) < 2:
        got = await asyncio.wait_for(surveys.get(), 15)
        mine += [got] if got["case_id"] == case["case_id"] else []
    survey = next(m for m in mine if "token" in m)
    notice = next(m for m in mine if "notice" in m)
    assert survey["delivery"] == "phone_call"
    # the notices channel queues the agent's call with the survey page, and tells the customer to expect it
    assert notice["notice"] == "survey" and notice["delivery"] == "phone_call" and notice["link"] == survey["link"]
    assert "전화로 여쭙겠습니다" in notice["message"] and "http" not in notice["message"]
    assert notice["tracking_code"] == case["tracking_code"] and notice["channel"] == "app"
    r = await http["feedback"].post("/v1/feedback", json={"token": survey["token"], "csat": 5, "nps": 9, "ces": 2})
    assert r.status_code == 201  # the agent enters what the customer answered on the phone
    for _ in range(100):
        status = (await http["intake"].get(f"/v1/voc/{case['tracking_code']}",
                                           headers={"X-Case-Secret": case["access_secret"]})).json()
        messages = [t["message"] for t in status["timeline"]]
        if "소중한 평가 감사합니다." in messages:
            break
        await asyncio.sleep(0.1)
    assert "담당 직원이 전화로 만족도를 여쭙겠습니다." in messages and "소중한 평가 감사합니다." in messages
    called = next(t for t in status["timeline"] if t["message"] == "담당 직원이 전화로 만족도를 여쭙겠습니다.")
    assert called["detail"] == {"delivery": "phone_call"}  # no link for a customer who is called instead
    await nc.drain()
