"""The `make run` demo: realistic Korean VOCs submitted over HTTP, affiliate teams
working their queues with a plain nats-py pull consumer, and customers answering
the survey. Every event on `voc.>` is printed as it happens."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import nats
from nats.js import JetStreamContext
from rich.console import Console

from services.devrun import DEV_STAFF
from shared.bus import team_consumers

DEMO_VOCS: tuple[dict, ...] = (
    {"channel": "app", "affiliate": "card", "customer": "김민수 010-2345-6789",
     "text": "어제 밤에 지하철에서 지갑을 통째로 잃어버렸어요. 신용카드 4111-1111-1111-1111 이 들어 있었는데 "
             "분실 신고하고 재발급 받고 싶습니다."},
    {"channel": "phone", "customer": "이영희",
     "text": "아 네 그게요 벌써 세 번째 전화드리는 건데요 지난달에 이중 결제된 거 환불 해준다고 해놓고 아직도 "
             "처리가 안됐어요 이번 주 안에 해결 안 되면 금융감독원에 민원 넣을 거예요"},
    {"channel": "web", "affiliate": "bank",
     "text": "적금 만기 때마다 지점에 가서 재예치해야 하는 게 번거롭습니다. 만기 시 자동으로 같은 조건으로 "
             "재예치되는 옵션이 있으면 좋겠어요."},
    {"channel": "branch", "affiliate": "bank", "customer": "박*자 고객", "staff_id": "S10293",
     "text": "고객 내점. 강남지점 김민지 대리 응대에 매우 만족하셨다고 함. 친절하게 설명해 주셔서 감사하다는 "
             "말씀 전해 달라 하심."},
)

STEP = {
    "kr.moksori.voc.received.v1": "received",
    "kr.moksori.voc.classified.v1": "classified",
    "kr.moksori.case.routed.v1": "routed",
    "kr.moksori.case.acknowledged.v1": "acknowledged",
    "kr.moksori.case.resolved.v1": "resolved",
    "kr.moksori.feedback.survey_requested.v1": "survey sent",
    "kr.moksori.feedback.submitted.v1": "rated",
    "kr.moksori.alert.raised.v1": "ALERT",
}
RESOLUTION = {
    "fraud_response": "분실 카드 즉시 사용정지 및 재발급 신청 완료. 새 카드는 3영업일 내 배송됩니다.",
    "suggestions_review": "소중한 제안 감사합니다. 상품개발부에서 자동 재예치 옵션을 검토하겠습니다.",
    "general": "확인 결과 요청하신 내용을 처리하였습니다. 불편을 드려 죄송합니다.",
    "special_handling": "전담 매니저가 통화 후 처리하였습니다.",
}


def describe(ce_type: str, data: dict) -> str:
    match STEP.get(ce_type):
        case "classified":
            c = data["classification"]
            flags = f" flags={','.join(c['flags'])}" if c["flags"] else ""
            return f"{c['kind']}/{c['topic']} urgency={c['urgency']}{flags}"
        case "routed":
            copy = " (copy to group consumer protection)" if data.get("copy_reason") else \
                f" ({data['handoff']})" if data.get("handoff") else ""
            return f"→ voc.routed.{data['affiliate']}.{data['team']}{copy}"
        case "acknowledged":
            return f"handler {data['handler_name']} {data['handler_contact']}"
        case "resolved":
            return data["resolution"][:40]
        case "survey sent":
            return f"via {data['delivery']}"
        case "rated":
            return f"CSAT {data['csat']} NPS {data['nps']} CES {data['ces']}"
        case "ALERT":
            return f"{data['reason']}: {data['message']}"
    return ""


async def watch(nc: nats.NATS, console: Console, codes: dict[str, str]) -> None:
    """Print every case event as it happens (a plain core subscription sees JetStream publishes too)."""

    async def on_msg(msg) -> None:
        h = msg.headers or {}
        step = STEP.get(h.get("ce-type", ""))
        if step is None:
            return
        data = json.loads(msg.data)
        code = codes.get(data.get("case_id"), data.get("tracking_code", data.get("case_id", "?")[:8]))
        style = "bold red" if step == "ALERT" else "cyan"
        console.print(f"  [bold]{code}[/]  [{style}]{step:<12}[/] {describe(h['ce-type'], data)}")

    await nc.subscribe("voc.>", cb=on_msg)


async def work_queues(js: JetStreamContext, routing_url: str, keys: dict[str, str], stop: asyncio.Event) -> None:
    """Affiliate teams: pull from every team's durable, acknowledge, resolve, ack the message,
    each team with its own affiliate's key."""
    subs = [await js.pull_subscribe_bind(c.durable, stream=c.stream) for c in team_consumers()]
    async with httpx.AsyncClient(base_url=routing_url, timeout=10) as http:
        while not stop.is_set():
            idle = True
            for sub in subs:
                try:
                    msgs = await sub.fetch(10, timeout=0.05)
                except (nats.errors.TimeoutError, asyncio.TimeoutError):
                    continue
                idle = False
                for m in msgs:
                    case = json.loads(m.data)
                    if not case.get("copy_reason"):  # the office's copy is for oversight only
                        key = {"X-Api-Key": keys[case["affiliate"]], "X-Staff-Id": DEV_STAFF[case["affiliate"]]}
                        await http.post(f"/v1/cases/{case['case_id']}/acknowledge", headers=key,
                                        json={"handler_name": "김민지", "handler_contact": "02-1588-0000"})
                        await asyncio.sleep(0.3)
                        await http.post(f"/v1/cases/{case['case_id']}/resolve", headers=key,
                                        json={"resolution": RESOLUTION.get(case["team"], RESOLUTION["general"])})
                    await m.ack()
            if idle:
                await asyncio.sleep(0.2)


async def answer_surveys(nc: nats.NATS, feedback_url: str, stop: asyncio.Event) -> None:
    """Customers: open the survey link and rate the resolved case."""
    queue: asyncio.Queue = asyncio.Queue()

    async def on_survey(msg) -> None:
        await queue.put(json.loads(msg.data))

    sub = await nc.subscribe("voc.feedback.survey_requested", cb=on_survey)
    scores = [(5, 10, 1), (2, 3, 6), (4, 8, 2), (5, 9, 1)]
    async with httpx.AsyncClient(base_url=feedback_url, timeout=10) as http:
        i = 0
        while not stop.is_set():
            try:
                survey = await asyncio.wait_for(queue.get(), 0.5)
            except asyncio.TimeoutError:
                continue
            csat, nps, ces = scores[i % len(scores)]
            i += 1
            await asyncio.sleep(0.3)
            await http.post("/v1/feedback", json={"token": survey["token"], "csat": csat, "nps": nps, "ces": ces,
                                                  "comment": "빠르게 처리해 주셔서 감사합니다" if csat > 3 else
                                                  "처리는 됐는데 연락이 너무 늦었어요"})
    await sub.unsubscribe()


async def submit_demo(intake_url: str, api_key: str, console: Console, codes: dict[str, str]) -> list[dict]:
    accepted = []
    async with httpx.AsyncClient(base_url=intake_url, timeout=10, headers={"X-Api-Key": api_key}) as http:
        for voc in DEMO_VOCS:
            r = await http.post("/v1/voc", json=voc)
            r.raise_for_status()
            body = r.json()
            codes[body["case_id"]] = body["tracking_code"]
            console.print(f"\n[green]POST /v1/voc[/] {voc['channel']}: {voc['text'][:38]}… → 202 "
                          f"[bold]{body['tracking_code']}[/] (답변 기한 {body['first_response_due'][:10]})")
            accepted.append(body)
            await asyncio.sleep(0.6)
    return accepted


# consultations that never became cases (seed 002: every consultation can be rated): the affiliate's consulting
# system reports each as ended and gives the customer the link; (CSAT, NPS, CES, comment), or None for a customer
# an agent will call
DEMO_CONSULTATIONS: tuple[tuple[str, dict, tuple | None], ...] = (
    ("card", {"channel": "phone", "topic": "card_payment"},
     (5, 9, 2, "결제일 변경 방법을 상담원분이 차근차근 알려주셔서 금방 해결했어요")),
    ("bank", {"channel": "chat", "topic": "account_transfer"},
     (2, 4, 6, "챗봇에서 상담사 연결까지 20분 넘게 걸렸어요ㅠㅠ 이체한도 물어보는 거였는데")),
    ("insurance", {"channel": "branch", "topic": "insurance", "vulnerable": True}, None),
)


async def rate_consultations(feedback_url: str, keys: dict[str, str], console: Console) -> None:
    """The consulting systems report consultations that ended; their customers answer the link."""
    now = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=feedback_url, timeout=10) as http:
        for i, (affiliate, body, answer) in enumerate(DEMO_CONSULTATIONS):
            ref = f"DEMO-{affiliate.upper()}-{now:%Y%m%d%H%M%S}-{i}"
            r = await http.post("/v1/consultations", headers={"X-Api-Key": keys[affiliate]},
                                json={**body, "consultation_id": ref, "ended_at": now.isoformat()})
            r.raise_for_status()
            survey = r.json()
            console.print(f"\n[green]POST /v1/consultations[/] {affiliate} {body['channel']} {ref} → "
                          f"{r.status_code} survey by {survey['delivery']}")
            if answer:
                csat, nps, ces, comment = answer
                r = await http.post("/v1/feedback", json={"token": survey["token"], "csat": csat, "nps": nps,
                                                          "ces": ces, "comment": comment})
                console.print(f"  [cyan]consultation rated[/] CSAT {csat} NPS {nps} CES {ces}: {comment} → "
                              f"{r.status_code} {r.json().get('status') or r.json().get('error')}")


async def show_customer_view(intake_url: str, accepted: list[dict], console: Console, stop: asyncio.Event,
                             timeout: float = 30.0) -> None:
    """What each customer sees at GET /v1/voc/{tracking_code} with their case secret."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(base_url=intake_url, timeout=10) as http:
        views = {}
        while loop.time() < deadline and not stop.is_set():
            for a in accepted:
                r = await http.get(a["status_url"], headers={"X-Case-Secret": a["access_secret"]})
                views[a["tracking_code"]] = r.json()
            if all(v.get("status") == "closed" for v in views.values()):
                break
            await asyncio.sleep(0.5)
    console.print("\n[bold]Customer view[/] (GET /v1/voc/{tracking_code} with X-Case-Secret):")
    for code, v in views.items():
        steps = " → ".join(dict.fromkeys(t["status"] for t in v.get("timeline", [])))
        console.print(f"  [bold]{code}[/]  {steps}   [dim]{v.get('timeline', [{}])[-1].get('message', '')}[/]")
