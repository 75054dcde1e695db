from pathlib import Path

import pytest

from services.intake.domain.email_parse import EmailParseError, decode_header_value, parse_email

FIXTURES = Path(__file__).parent.parent / "fixtures" / "email"


def test_euc_kr_formal_mail():
    voc = parse_email((FIXTURES / "euc_kr_plain.eml").read_bytes())
    assert voc.channel == "email"
    assert voc.title == "해외 결제 이중 청구 건 환불 요청드립니다"
    assert "두 번 청구되었습니다" in voc.text
    assert voc.customer == "gildong.hong@example.co.kr"
    assert voc.channel_message_id == "<20261120091233.1234@example.co.kr>"
    assert voc.occurred_at.isoformat() == "2026-11-20T09:12:33+09:00"


def test_utf8_multipart_prefers_plain_text_and_keeps_attachment_metadata():
    voc = parse_email((FIXTURES / "utf8_multipart_attachment.eml").read_bytes(), affiliate="bank")
    assert voc.title == "적금 만기 알림 관련 건의"
    assert voc.text.startswith("적금 만기 안내 문자를 받지 못해 자동 해지되었습니다.")
    assert "<p>" not in voc.text
    assert [(a.filename, a.content_type) for a in voc.attachments] == [("통장사본.pdf", "application/octet-stream")]
    assert voc.attachments[0].size > 0 and voc.affiliate == "bank"


def test_outlook_ks_c_5601_1987_is_read_as_cp949():
    voc = parse_email((FIXTURES / "outlook_ks_c_5601_1987.eml").read_bytes())
    assert voc.title == "보험금 청구 지연 민원"
    assert "세 번이나" in voc.text and "뷁" in voc.text  # 뷁 exists only in CP949


def test_encoded_words():
    assert decode_header_value("=?UTF-8?B?7Lm065OcIOu2hOyLpA==?=") == "카드 분실"
    assert decode_header_value("=?EUC-KR?Q?=C4=AB=B5=E5?=") == "카드"


@pytest.mark.parametrize("raw", [b"", b"   ", b"just some words without headers"])
def test_unreadable_input_is_refused(raw):
    with pytest.raises(EmailParseError):
        parse_email(raw)
