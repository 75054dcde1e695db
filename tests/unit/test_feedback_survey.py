import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.feedback.domain.survey import Answer, TokenError, delivery_for, is_repeat, issue_token, verify_token

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
])
def test_forged_tokens_are_refused(mangle):
    token = issue_token(SECRET, CASE, NOW + timedelta(days=7))
    with pytest.raises(TokenError):
        verify_token(SECRET, mangle(token), NOW)


def test_delivery_follows_channel():
    assert delivery_for("app") == "app_push"
    assert delivery_for("phone") == "sms"
    assert delivery_for("email") == "email"


def test_repeat_answers():
    a = Answer(5, 9, 2, None)
    assert is_repeat(a, Answer(5, 9, 2, None))
    assert not is_repeat(a, Answer(4, 9, 2, None))
    with pytest.raises(ValueError, match="at least one"):
        Answer(None, None, None, "코멘트만").validate()
