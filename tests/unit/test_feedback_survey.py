import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.feedback.domain.survey import (Answer, Surveyed, TokenError, _b64, _unb64, consultation_id, delivery_for,
                                             is_repeat, issue_token, notice_message, verify_any, verify_token)

SECRET = "s" * 32
CASE = uuid.uuid4()
NOW = datetime(2026, 11, 20, tzinfo=UTC)


def test_token_round_trip():
    token = issue_token(SECRET, CASE, NOW + timedelta(days=7))
    assert verify_token(SECRET, token, NOW) == CASE


def test_expired_token_is_refused():
    token = issue_token(SECRET, CASE, NOW + timedelta(days=7))
    with pytest.raises(TokenError, match="expired"):
        verify_token(SECRET, token, NOW + timedelta(days=8))


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
    lambda t: "x" + t,
    lambda t: "garbage",
    lambda t: issue_token("another-secret-key-123", CASE, NOW + timedelta(days=7)),
    # an expiry no date can hold (was an OverflowError, a 500 over HTTP)
    lambda t: _b64(f"{CASE}.99999999999999999999".encode()) + "." + _b64(b"x" * 18),
    lambda t: _b64(f"{CASE}.-99999999999999".encode()) + "." + _b64(b"x" * 18),
])
def test_forged_tokens_are_refused(mangle):
    token = issue_token(SECRET, CASE, NOW + timedelta(days=7))
    with pytest.raises(TokenError):
        verify_token(SECRET, mangle(token), NOW)


def test_delivery_follows_channel():
    assert delivery_for("app") == "app_push"
    assert delivery_for("phone") == "sms"
    assert delivery_for("email") == "email"


def test_a_digitally_vulnerable_customer_is_asked_by_an_agents_call():
    assert delivery_for("app", ("vulnerable",)) == "phone_call"
    assert delivery_for("email", ("regulator", "vulnerable")) == "phone_call"
    assert delivery_for("app", ("regulator",)) == "app_push"


def test_the_survey_notice_carries_the_link_and_the_last_day_in_korean_time():
    expires = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)  # 12월 1일 00:30 in Korea
    link = "https://voc.moksori.example.kr/s/abc.def"
    text = notice_message("VOC-2026-000123", "sms", link, expires)
    assert text == ("[목소리] 접수번호 VOC-2026-000123 민원 처리에 만족하셨나요? 12월 1일 00:30까지 만족도 조사에 "
                    "참여해 주세요. https://voc.moksori.example.kr/s/abc.def")
    assert not notice_message("VOC-2026-000123", "app_push", None, expires).endswith(" ")


def test_a_customer_called_for_the_rating_is_told_so_without_a_link():
    text = notice_message("VOC-2026-000124", "phone_call", "https://voc.moksori.example.kr/s/abc.def", NOW)
    assert "담당 직원이 전화로 여쭙겠습니다" in text and "http" not in text and "VOC-2026-000124" in text


def test_repeat_answers():
    a = Answer(5, 9, 2, None)
    assert is_repeat(a, Answer(5, 9, 2, None))
    assert not is_repeat(a, Answer(4, 9, 2, None))
    with pytest.raises(ValueError, match="at least one"):
        Answer(None, None, None, "코멘트만").validate()


@pytest.mark.parametrize("csat,nps,sentiment,recover", [
    (2, None, None, True), (1, 9, "positive", True), (3, 5, "negative", True),
    (3, 5, "neutral", False), (4, 9, "negative", False), (None, None, None, False),
])
def test_service_recovery_rule(csat, nps, sentiment, recover):
    from services.feedback.domain.rewards import needs_recovery

    assert needs_recovery(csat, nps, sentiment) is recover


def test_reward_table_defaults_and_overrides(tmp_path):
    from services.feedback.domain.rewards import load_rewards
    from shared.datafiles import DataFileError

    table = load_rewards()
    assert table.points_for("card") == 50_000
    p = tmp_path / "r.yaml"
    p.write_text("default_points: 30000\nper_affiliate:\n  insurance: 70000\n")
    assert load_rewards(p).points_for("insurance") == 70_000 and load_rewards(p).points_for("bank") == 30_000
    p.write_text("default_points: -1\n")
    with pytest.raises(DataFileError, match="r.yaml:1: default_points"):
        load_rewards(p)
    for wrong in ("0", "500000000"):  # a reward of 0 cannot be granted; a digit too many is a typo
        p.write_text(f"per_affiliate:\n  card: 70000\n  bank: {wrong}\n")
        with pytest.raises(DataFileError, match="r.yaml:3: per_affiliate.bank"):
            load_rewards(p)


@pytest.mark.parametrize("field,value", [("csat", True), ("nps", False), ("ces", 2.0), ("csat", "5")])
def test_a_rating_must_be_a_number_not_a_yes_or_no(field, value):
    """A channel's "satisfied: true" was taken as CSAT 1, the worst rating, and raised service recovery."""
    from pydantic import ValidationError

    from services.feedback.handlers.http import RatingBody
    from shared.events import SubmitFeedback

    with pytest.raises(ValidationError, match=field):
        RatingBody.model_validate_json(f'{{"token": "t.s", "{field}": {json.dumps(value)}}}')
    with pytest.raises(ValidationError, match=field):
        SubmitFeedback.model_validate_json(f'{{"case_id": "{CASE}", "token": "t.s", "{field}": {json.dumps(value)}}}')
    assert RatingBody.model_validate_json(f'{{"token": "t.s", "{field}": 5}}').model_dump()[field] == 5


def test_report_periods_and_converted_counts():
    from datetime import date

    from services.feedback.domain.report import Period, nps, per_100k

    assert Period.of(date(2026, 11, 20), "week").start == date(2026, 11, 16)
    assert Period.of(date(2026, 11, 20), "month").end == date(2026, 12, 1)
    assert Period.of(date(2026, 11, 20), "quarter").start == date(2026, 10, 1)
    assert Period.of(date(2026, 11, 20), "quarter").end == date(2027, 1, 1)
    assert Period.of(date(2024, 2, 29), "day").last_year().start == date(2023, 2, 28)
    assert per_100k(98, 9_800_000) == 1.0
    assert nps(5, 2, 10) == 30.0 and nps(0, 0, 0) is None


def test_a_consultations_link_is_never_a_cases():
    ref = "CC-CARD-20261124-004512"
    cid = consultation_id("card", ref)
    assert cid == consultation_id("card", ref) != consultation_id("bank", ref)  # the same id from two affiliates
    token = issue_token(SECRET, cid, NOW + timedelta(days=7), consultation=True)
    assert verify_any(SECRET, token, NOW) == Surveyed("consultation", cid)
    with pytest.raises(TokenError, match="consultation's, not a case's"):
        verify_token(SECRET, token, NOW)
    case_token = issue_token(SECRET, cid, NOW + timedelta(days=7))
    assert token != case_token and verify_any(SECRET, case_token, NOW).kind == "case"
    # the mark is signed with the id: a case's link cannot be turned into a consultation's, nor back
    payload, sig = case_token.split(".")
    forged = _b64(_unb64(payload) + b".c") + "." + sig
    with pytest.raises(TokenError, match="signature"):
        verify_any(SECRET, forged, NOW)


@pytest.mark.parametrize("ref,refused", [
    ("CC-01012345678", True), ("CALL-010-1234-5678", True), ("CC-850315-1234567", True),  # the customer's
    ("01012345678", True),
    ("CC-CARD-20261124-004512", False), ("BR-0412-20261124-031", False),  # a branch code and a date
    ("CC-1732423456789", False), ("ORD-2026112412345", False),  # a millisecond timestamp, a date and a sequence
])
def test_a_consultation_id_with_the_customers_number_inside_is_refused(ref, refused):
    from pydantic import ValidationError

    from services.feedback.handlers.consultations import ConsultationEnded

    body = {"consultation_id": ref, "channel": "phone", "ended_at": "2026-11-24T14:32:05+09:00"}
    if refused:
        with pytest.raises(ValidationError, match="consulting system's own id"):
            ConsultationEnded.model_validate(body)
    else:
        assert ConsultationEnded.model_validate(body).consultation_id == ref
