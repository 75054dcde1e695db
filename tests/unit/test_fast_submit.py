"""Intake's fast path for POST /v1/voc takes only the ordinary request; everything else reaches
the FastAPI route with the very same bytes, so every refusal is the route's own answer, and a
request passed on has not spent anything from its key's rate."""

from __future__ import annotations

import json
from types import SimpleNamespace

import asyncpg
import pytest

from services.intake.domain.apikeys import ApiKey, new_key
from services.intake.handlers import fast_submit
from services.intake.handlers.guard import RateLimiter

KEY_ID, SECRET_HASH, PRESENTED = new_key()
SUBMITTER = ApiKey(KEY_ID, "app-gateway", SECRET_HASH, ("app", "web"), ("submit",), rate_per_s=1.0, burst=3)
READER = ApiKey(KEY_ID, "status-page", SECRET_HASH, ("app",), ("read",), rate_per_s=1.0, burst=3)
BODY = json.dumps({"channel": "app", "text": "앱에서 이체하려는데 자꾸 오류 떠요 ㅠㅠ 급해요"}, ensure_ascii=False).encode()


class Keys:
    def __init__(self, key: ApiKey | None) -> None:
        self.key = key
        self.down: Exception | None = None  # PostgreSQL away: the lookup raises this

    async def get(self, key_id: str) -> ApiKey | None:
        if self.down:
            raise self.down
        return self.key if key_id == KEY_ID else None


class Harness:
    def __init__(self, key: ApiKey | None = SUBMITTER) -> None:
        self.app = SimpleNamespace(state=SimpleNamespace(keys=Keys(key), limiter=RateLimiter()))
        self.routed: list[bytes] = []  # bodies the FastAPI route received
        self.answered: list[tuple] = []  # what the fast path accepted
        self.sent: list[dict] = []  # the ASGI messages of its own answers

        async def route(scope, receive, send):
            body, more = b"", True
            while more:
                message = await receive()
                body, more = body + message["body"], message["more_body"]
            self.routed.append(body)

        self.middleware = fast_submit.FastSubmit(route)

    async def post(self, body: bytes = BODY, headers: dict | None = None, path: str = "/v1/voc") -> None:
        headers = {"content-type": "application/json", "x-api-key": PRESENTED} if headers is None else headers
        scope = {"type": "http", "method": "POST", "path": path, "app": self.app,
                 "headers": [(k.encode(), v.encode("latin-1")) for k, v in headers.items()]}
        chunks = [{"type": "http.request", "body": body[:7], "more_body": True},
                  {"type": "http.request", "body": body[7:], "more_body": False}]

        async def receive():
            return chunks.pop(0)

        async def send(message):
            self.sent.append(message)

        await self.middleware(scope, receive, send)


@pytest.fixture
def harness(monkeypatch):
    h = Harness()

    async def answer(app, body, key, idempotency_key):
        h.answered.append((body, key, idempotency_key))
        from fastapi.responses import JSONResponse
        return JSONResponse({"case_id": "x"}, status_code=202)

    monkeypatch.setattr(fast_submit, "answer_submission", answer)
    return h


async def test_an_ordinary_submission_is_answered_without_the_route(harness):
    await harness.post(headers={"content-type": "application/json; charset=utf-8",
                                "authorization": f"Bearer {PRESENTED}", "idempotency-key": "app-20261122-0001"})
    assert harness.routed == []
    (body, key, idem), = harness.answered
    assert body.channel == "app" and body.text.startswith("앱에서 이체") and key is SUBMITTER
    assert idem == "app-20261122-0001"


@pytest.mark.parametrize("body,headers", [
    (b'{"channel": "app", "text": ', None),  # not JSON
    (json.dumps({"channel": "fax", "text": "팩스로 보냅니다"}).encode(), None),  # not a valid submission
    (json.dumps({"channel": "branch", "text": "고객 내점 통장 재발급 요청"}).encode(), None),  # branch without staff_id
    (BODY, {"content-type": "text/plain", "x-api-key": PRESENTED}),  # the route decides what that means
    (BODY, {"content-type": "application/json"}),  # no key: 401
    (BODY, {"content-type": "application/json", "x-api-key": "not-a-key"}),  # malformed: 401
    (BODY, {"content-type": "application/json", "x-api-key": PRESENTED[:-2] + "xx"}),  # wrong secret: 401
    (BODY, {"content-type": "application/json", "x-api-key": PRESENTED, "idempotency-key": "k" * 201}),  # 422
    (BODY, {"content-type": "application/json", "x-api-key": PRESENTED, "idempotency-key": ""}),  # blank: 422
    (BODY, {"content-type": "application/json", "x-api-key": PRESENTED, "idempotency-key": "  "}),  # 422
])
async def test_anything_else_reaches_the_route_with_the_same_bytes(harness, body, headers):
    await harness.post(body, headers)
    assert harness.routed == [body]
    assert harness.answered == []


async def test_a_key_without_the_submit_role_is_the_routes_to_refuse(monkeypatch):
    h = Harness(READER)
    await h.post()
    assert h.routed == [BODY]


async def test_a_refused_request_spends_nothing_and_the_rate_limit_is_the_routes_to_answer(harness):
    bad = json.dumps({"channel": "app", "text": ""}).encode()
    for _ in range(5):
        await harness.post(bad)  # invalid bodies: passed on before the key's rate is touched
    assert len(harness.routed) == 5
    for _ in range(3):
        await harness.post()  # the burst of 3
    assert len(harness.answered) == 3
    await harness.post()  # over the rate: the route answers 429
    assert harness.routed[-1] == BODY and len(harness.answered) == 3


async def test_other_routes_are_not_touched(harness):
    await harness.post(path="/v1/voc/email")
    assert harness.routed == [BODY] and harness.answered == []


@pytest.mark.parametrize("down", [ConnectionRefusedError(111, "Connection refused"),
                                  asyncpg.CannotConnectNowError("the database system is shutting down")])
async def test_a_key_lookup_with_the_database_away_is_a_503_with_retry_after(harness, down):
    """The key cache expired during an outage: the fast path answers as the route would (503,
    Retry-After), not with a 500 and a traceback (found by the PostgreSQL-restart chaos scenario)."""
    harness.app.state.keys.down = down
    await harness.post()
    start, body = harness.sent
    assert start["status"] == 503 and (b"retry-after", b"1") in start["headers"]
    assert "database is unavailable" in json.loads(body["body"])["error"]
    assert harness.routed == [] and harness.answered == []
