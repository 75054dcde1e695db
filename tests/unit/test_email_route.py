"""The e-mail route's 400 names the mail's part and never echoes its content."""

from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.intake.domain.apikeys import ApiKey
from services.intake.handlers import http
from services.intake.handlers.guard import submitter


def _client() -> TestClient:
    app = FastAPI()
    app.include_router(http.router)
    app.dependency_overrides[submitter] = lambda: ApiKey("k", "mail-gw", "h", ("email",), ("submit",), 10, 10)
    return TestClient(app)


def _post(raw: str):
    return _client().post("/v1/voc/email", content=raw.encode(), headers={"content-type": "message/rfc822"})


def test_a_bad_body_is_named_without_its_personal_data():
    r = _post("From: hong.gildong@naver.com\r\nSubject: =?UTF-8?B?7Lm065Oc?=\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n\r\n"
              "연락처 010-1234-5678 \x1b 주민 850315-1234567\r\n")
    assert r.status_code == 400 and r.json()["details"][0]["field"] == "body"
    assert "5678" not in r.text and "1234567" not in r.text and "U+001B" in r.text


def test_a_bad_sender_is_named_as_the_from_header():
    r = _post("From: " + "a" * 190 + ".hong@naver.com\r\nSubject: 문의\r\n\r\n카드 한도 문의드립니다\r\n")
    assert r.status_code == 400 and r.json()["details"][0]["field"] == "from"
    assert "hong@naver.com" not in r.text
