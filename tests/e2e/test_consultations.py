"""Seed 002: every consultation can be rated, not only the ones that became cases. An affiliate's consulting
system reports a consultation that ended, gives the customer the survey link, and the answer counts in the
consumer-protection office's report, by the day the consultation ended."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services import devrun
from services.feedback import report_cli
from shared.bizcal import KST

pytestmark = pytest.mark.e2e


def consulting_key(system, affiliate: str) -> dict[str, str]:
    return {"X-Api-Key": devrun.team_keys(system.var, "CONSULTATION_KEYS")[affiliate]}


async def test_a_card_call_is_rated_and_counted_in_the_report(system, http, db):
    fb = http["feedback"]
    card = consulting_key(system, "card")
    ended = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    call = {"consultation_id": "CC-CARD-20261124-004512", "channel": "phone", "ended_at": ended.isoformat(),
            "topic": "card_payment"}
    r = await fb.post("/v1/consultations", json=call, headers=card)
    assert r.status_code == 201, r.text
    survey = r.json()
    assert survey["affiliate"] == "card" and survey["delivery"] == "sms" and survey["ref"] == call["consultation_id"]
    assert survey["link"].endswith("/" + survey["token"])
    again = await fb.post("/v1/consultations", json=call, headers=card)  # the consulting system retried
    assert again.status_code == 200 and again.json() == survey
    moved = await fb.post("/v1/consultations", json={**call, "ended_at": (ended - timedelta(hours=1)).isoformat()},
                          headers=card)
    assert moved.status_code == 409 and "reported before with other details" in moved.json()["error"]

    # the customer opens the link the call centre sent by SMS, and answers
    async with httpx.AsyncClient() as customer:
        page = await customer.get(survey["link"])
        assert page.status_code == 200 and "이번 상담에 얼마나 만족하십니까?" in page.text
    answer = {"token": survey["token"], "csat": 2, "nps": 3, "ces": 6,
              "comment": "상담원분이 카드번호 1234-5678-9012-3456 를 세 번이나 다시 물어보셨어요ㅠㅠ 연결도 너무 오래 걸렸고요"}
    r = await fb.post("/v1/feedback", json=answer)
    assert r.status_code == 201 and r.json() == {"status": "recorded", "consultation_id": survey["consultation_id"]}
    assert (await fb.post("/v1/feedback", json=answer)).status_code == 200  # the same answer again
    other = await fb.post("/v1/feedback", json={**answer, "csat": 5})
    assert other.status_code == 409 and "consultation" in other.json()["error"]

    stored = await db.fetchrow("SELECT * FROM feedback.consultation_responses WHERE consultation_id::text = $1",
                               survey["consultation_id"])
    assert "1234-5678-9012-3456" not in stored["comment"] and stored["comment_sentiment"] == "negative"
    # the poor rating alerted the card company's supervisors (voc.alert.card.consultation_recovery), once,
    # naming the call centre's own id; feedback keeps the alert, as it keeps every alert it reads
    alerts = []
    for _ in range(100):
        alerts = await db.fetch("SELECT reason, severity, affiliate, message FROM feedback.alerts "
                                "WHERE case_id::text = $1", survey["consultation_id"])
        if alerts:
            break
        await asyncio.sleep(0.1)
    assert [(a["reason"], a["severity"], a["affiliate"]) for a in alerts] == [("consultation_recovery", "high", "card")]
    assert "CC-CARD-20261124-004512" in alerts[0]["message"] and "CSAT 2" in alerts[0]["message"]
    # a consultation is no case: nothing of it reaches the cases' facts (their counts stay the cases')
    assert await db.fetchval("SELECT count(*) FROM feedback.case_facts WHERE case_id::text = $1",
                             survey["consultation_id"]) == 0

    report = await report_cli.gather(db, ended.astimezone(KST).date(), "day", {}, wait=False)  # its Korean day
    [cards] = [a for a in report["consultations"]["affiliates"] if a["affiliate"] == "card"]
    assert cards["surveyed"] == 1 and cards["answered"] == 1 and cards["response_pct"] == 100.0
    assert cards["csat_avg"] == 2.0 and cards["nps"] == -100.0 and cards["ces_avg"] == 6.0
    assert list(cards["by_channel"]) == ["phone"]
    assert "상담 만족도" in report_cli.render(report, "html")


async def test_each_affiliate_reports_only_its_own_and_bad_reports_are_refused(system, http):
    fb = http["feedback"]
    ended = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    chat = {"consultation_id": "CHAT-77120391", "channel": "chat", "ended_at": ended}
    bank = await fb.post("/v1/consultations", json=chat, headers=consulting_key(system, "bank"))
    ins = await fb.post("/v1/consultations", json=chat, headers=consulting_key(system, "insurance"))
    assert bank.status_code == ins.status_code == 201  # the same id from two affiliates' systems: two consultations
    assert bank.json()["affiliate"] == "bank" and ins.json()["affiliate"] == "insurance"
    assert bank.json()["consultation_id"] != ins.json()["consultation_id"]
    assert (await fb.post("/v1/consultations", json=chat)).status_code == 401
    team = {"X-Api-Key": devrun.team_keys(system.var)["bank"]}  # routing's team key is not a consulting key
    assert (await fb.post("/v1/consultations", json=chat, headers=team)).status_code == 401
    key = consulting_key(system, "bank")
    for bad, field in (({**chat, "channel": "fax"}, "channel"),
                       ({**chat, "ended_at": "2026-11-24T10:00:00"}, "ended_at"),  # no time zone
                       ({**chat, "ended_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat()}, "ended_at"),
                       ({**chat, "ended_at": (datetime.now(UTC) - timedelta(days=30)).isoformat()}, "ended_at"),
                       ({**chat, "consultation_id": "상담 1"}, "consultation_id"),
                       ({**chat, "consultation_id": "01012345678"}, "consultation_id"),  # the customer's phone
                       ({**chat, "consultation_id": "CC-01012345678"}, "consultation_id"),  # inside the id
                       ({**chat, "consultation_id": "CC-850315-1234567"}, "consultation_id"),
                       ({**chat, "customer_phone": "010-1234-5678"}, "customer_phone")):
        r = await fb.post("/v1/consultations", json=bad, headers=key)
        assert r.status_code == 422 and r.json()["details"][0]["field"].endswith(field), r.text
    # an elderly customer the agent noted is asked by an agent's call, not sent a link
    r = await fb.post("/v1/consultations", headers=key, json={
        "consultation_id": "BR-0412-20261124-031", "channel": "branch", "ended_at": ended, "vulnerable": True})
    assert r.json()["delivery"] == "phone_call"


async def test_a_survey_reported_again_after_it_expired_is_gone(system, http, db):
    fb, key = http["feedback"], consulting_key(system, "securities")
    call = {"consultation_id": "SEC-CALL-88412", "channel": "phone",
            "ended_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat()}
    first = (await fb.post("/v1/consultations", json=call, headers=key)).json()
    await db.execute("UPDATE feedback.consultations SET expires_at = now() - interval '1 second' "
                     "WHERE consultation_id::text = $1", first["consultation_id"])
    r = await fb.post("/v1/consultations", json=call, headers=key)
    assert r.status_code == 410 and "expired" in r.json()["error"]


async def test_only_a_poor_consultation_rating_alerts_the_supervisors(system, http):
    import json

    import nats

    fb, key = http["feedback"], consulting_key(system, "bank")
    nc = await nats.connect(system.nats_url)
    alerted: list[dict] = []
    arrived = asyncio.Event()

    async def on_alert(msg):
        alerted.append(json.loads(msg.data))
        arrived.set()

    await nc.subscribe("voc.alert.bank.consultation_recovery", cb=on_alert)
    await nc.flush()
    ended = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
    surveys = {}
    for ref in ("CHAT-BANK-88120001", "CHAT-BANK-88120002"):
        r = await fb.post("/v1/consultations", json={"consultation_id": ref, "channel": "chat", "ended_at": ended},
                          headers=key)
        surveys[ref] = r.json()
    good = await fb.post("/v1/feedback", json={"token": surveys["CHAT-BANK-88120001"]["token"], "csat": 5, "nps": 9,
                                               "comment": "상담원분이 친절하게 설명해주셔서 금방 해결됐어요 감사합니다"})
    poor = await fb.post("/v1/feedback", json={"token": surveys["CHAT-BANK-88120002"]["token"], "csat": 1,
                                               "comment": "채팅 상담 연결까지 40분 걸렸고 답변도 성의가 없네요"})
    assert good.status_code == poor.status_code == 201
    await asyncio.wait_for(arrived.wait(), 10)  # published in commit order: the good answer's would be first
    await asyncio.sleep(0.3)
    assert [a["case_id"] for a in alerted] == [surveys["CHAT-BANK-88120002"]["consultation_id"]]
    assert "CHAT-BANK-88120002" in alerted[0]["message"]
    await nc.close()
