"""Intake edge cases: 8-bit mail headers, CSV rows with the wrong number of fields, JSON lines holding
U+2028, oversized CSV fields, and case refs no case can have."""

from __future__ import annotations

import csv
import socket
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from services.cli import app as cli
from services.intake import bulk
from services.intake.domain.apikeys import ApiKey
from services.intake.domain.email_parse import parse_email
from services.intake.handlers import http
from services.intake.handlers.guard import optional_key
from shared.pii_crypto import PiiCipher
from tests.unit.fakes import OneRowPool


def _mail(extra_headers: str = "", filename: str = "견적서.pdf", encoding: str = "utf-8") -> bytes:
    """A multipart complaint with a PDF attached, its headers written as raw 8-bit bytes (no encoded words)."""
    return ("From: 김민수 <minsu.kim@example.co.kr>\r\n"
            "Subject: 자동차보험 갱신 견적 관련 문의\r\n"
            f"{extra_headers}"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "갱신 견적서를 받았는데 작년보다 보험료가 30% 넘게 올랐습니다. 사고 이력도 없는데 이유를 알려주세요.\r\n"
            "--b1\r\nContent-Type: application/pdf\r\n"
            f"Content-Disposition: attachment; filename=\"{filename}\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
            "--b1--\r\n").encode(encoding)


@pytest.mark.parametrize("encoding", ["euc-kr", "utf-8"])
def test_a_raw_8bit_attachment_name_is_decoded_and_the_mail_accepted(encoding):
    """compat32 gave the Content-Disposition as an email.header.Header: `.lower()` raised, the route answered 500."""
    voc = parse_email(_mail(encoding=encoding))
    assert voc.title == "자동차보험 갱신 견적 관련 문의" and "보험료가 30%" in voc.text
    assert [(a.filename, a.content_type) for a in voc.attachments] == [("견적서.pdf", "application/pdf")]


def test_an_8bit_message_id_and_date_are_read_as_text():
    voc = parse_email(_mail("Message-ID: <갱신문의-20261120@example.co.kr>\r\nDate: 2026년 11월 20일 오전 9시\r\n",
                            filename="quote.pdf"))
    assert voc.channel_message_id == "<갱신문의-20261120@example.co.kr>"
    assert voc.occurred_at is None  # not an RFC 5322 date: unknown, as before


def test_a_date_from_a_reset_clock_is_unknown_not_a_refused_mail():
    voc = parse_email(_mail("Date: Mon, 1 Jan 1990 09:00:00 +0900\r\n", filename="quote.pdf"))
    assert voc.occurred_at is None and voc.title == "자동차보험 갱신 견적 관련 문의"
    in_range = parse_email(_mail("Date: Fri, 20 Nov 2026 09:12:33 +0900\r\n", filename="quote.pdf"))
    assert in_range.occurred_at.isoformat() == "2026-11-20T09:12:33+09:00"


def test_a_reset_clock_date_does_not_hide_another_error():
    raw = _mail("Date: Mon, 1 Jan 1990 09:00:00 +0900\r\n", filename="quote.pdf")
    raw = raw.replace(b"minsu.kim@example.co.kr", b"a" * 200 + b"@example.co.kr")
    with pytest.raises(ValidationError) as exc:
        parse_email(raw)
    assert [e["loc"] for e in exc.value.errors()] == [("customer",)]


def _rows(tmp_path, name: str, content: str) -> list:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return list(bulk.read_rows(path))


def test_a_csv_row_with_an_unquoted_comma_is_an_error_not_a_truncated_text(tmp_path):
    rows = _rows(tmp_path, "app.csv", "channel,text\n"
                                      "app,카드 분실, 빨리 처리 부탁\n"
                                      "app,\"카드 분실, 빨리 처리 부탁\"\n")
    assert rows[0] == (2, None, "the row has 3 fields but the header has 2: "
                                "put a text containing a comma in double quotes")
    assert rows[1] == (3, {"channel": "app", "text": "카드 분실, 빨리 처리 부탁"}, None)


def test_a_csv_row_missing_fields_is_an_error(tmp_path):
    rows = _rows(tmp_path, "branch.csv", "channel,text,staff_id\n"
                                         "branch,통장 재발급 수수료 항의\n"
                                         "branch,통장 재발급 수수료 항의,\n")
    assert rows[0] == (2, None, "the row has 2 fields but the header has 3: "
                                "give every column, an empty one as nothing between two commas")
    assert rows[1] == (3, {"channel": "branch", "text": "통장 재발급 수수료 항의"}, None)


def test_a_json_line_may_hold_unicode_line_separators(tmp_path):
    """JSON allows U+2028, U+2029 and U+0085 unescaped in a string; splitlines() split the row there."""
    rows = _rows(tmp_path, "rows.jsonl", '{"channel": "app", "text": "카드 분실\u2028재발급 요청\u2029급함\u0085"}\r\n'
                                         '{"channel": "app", "text": "이체 한도"\r\n')
    assert rows == [(1, {"channel": "app", "text": "카드 분실\u2028재발급 요청\u2029급함\u0085"}, None),
                    (2, None, "not JSON: Expecting ',' delimiter at column 35")]


def _oversized_csv(tmp_path):
    path = tmp_path / "legacy.csv"
    path.write_text("channel,text\n"
                    f"app,{'가' * (csv.field_size_limit() + 1)}\n"
                    "app,앱 로그인이 계속 실패합니다\n", encoding="utf-8")
    return path


def test_a_csv_field_over_the_size_limit_is_that_lines_error(tmp_path):
    (line, data, error), after = bulk.read_rows(_oversized_csv(tmp_path))
    assert (line, data) == (2, None) and error.startswith("unreadable CSV: field larger than field limit")
    assert after == (3, {"channel": "app", "text": "앱 로그인이 계속 실패합니다"}, None)


def test_the_import_command_reads_a_file_with_an_oversized_field_without_a_traceback(tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here: the command stops at the database, after reading
    monkeypatch.setenv("DATABASE_URL", f"postgresql://moksori@127.0.0.1:{port}/moksori")
    monkeypatch.setenv("PII_KEYS", PiiCipher.generate_spec())
    monkeypatch.setenv("CASE_ACCESS_KEY", "x" * 20)
    result = CliRunner().invoke(cli, ["import", str(_oversized_csv(tmp_path))])
    assert isinstance(result.exception, SystemExit), result.exception
    assert "cannot use the database" in result.output


def _client() -> tuple[TestClient, OneRowPool]:
    app = FastAPI()
    app.include_router(http.router)
    app.state.runtime = SimpleNamespace(pool=OneRowPool())
    officer = ApiKey("k", "privacy", "h", ("app",), ("read", "reveal"), 10, 10, affiliates=("card",))
    app.dependency_overrides[optional_key] = lambda: officer
    return TestClient(app), app.state.runtime.pool


@pytest.mark.parametrize("ref", ["VOC-2026-000123%00", "%00", "VOC-2026-%1F000123", "VOC-2026-" + "0" * 56])
def test_a_ref_no_case_can_have_is_an_unknown_case_without_a_query(ref):
    """PostgreSQL refuses a NUL in a text parameter: the lookup raised, and the routes answered 500."""
    client, pool = _client()
    status = client.get(f"/v1/voc/{ref}", headers={"X-Case-Secret": "s"})
    reveal = client.post(f"/v1/voc/{ref}/reveal", json={"reason": "금감원 이첩 민원 회신 자료 작성"})
    assert (status.status_code, reveal.status_code) == (404, 404) and pool.statements == []
    assert status.json()["error"].startswith("no case ") and status.json()["error"].endswith(" for these credentials")
    assert reveal.json()["error"].startswith("no case ") and reveal.json()["error"].endswith(" for this key")


def test_the_longest_refs_are_still_looked_up():
    client, pool = _client()
    longest = ["urn:uuid:{0b9d2c1e-5f3a-4c2b-9a7e-1d2f3a4b5c6d}", "VOC-2026-" + "9" * 19]
    for ref in longest:
        assert client.get(f"/v1/voc/{ref}", headers={"X-Case-Secret": "s"}).status_code == 404
    assert len(pool.statements) == 2
