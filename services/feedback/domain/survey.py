"""Surveys and ratings (pure): signed expiring links, delivery channel, and what a
repeated answer means."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

from shared.bizcal import KST

DELIVERY_BY_CHANNEL = {"app": "app_push", "chat": "app_push", "web": "email", "email": "email",
                       "phone": "sms", "branch": "sms", "partner": "sms"}


class TokenError(ValueError):
    pass


CONSULTATION_MARK = ".c"  # ends a consultation's signed payload (a case's has none, as before consultations)
CONSULTATION_NAMESPACE = UUID("0b6f3d2e-5c1a-4e8b-9a47-3f2d1c0e9b71")


@dataclass(frozen=True)
class Surveyed:
    kind: str  # case or consultation
    id: UUID


def consultation_id(affiliate: str, ref: str) -> UUID:
    """A consultation's id, from the affiliate and the consulting system's own id for it: reporting it
    again finds the same survey."""
    return uuid5(CONSULTATION_NAMESPACE, f"{affiliate}:{ref}")


def delivery_for(channel: str, flags: tuple[str, ...] = ()) -> str:
    """A digitally vulnerable customer (the `vulnerable` flag: elderly, disabled, a language barrier, ...) is
    asked by an agent's call, whatever the channel: a link they may not manage to open would go unanswered,
    and the office's numbers would miss them (seed 002: agent phone calls for the digitally vulnerable)."""
    return "phone_call" if "vulnerable" in flags else DELIVERY_BY_CHANNEL[channel]


def notice_message(tracking_code: str, delivery: str, link: str | None, expires_at: datetime) -> str:
    """What the customer is sent to ask for the rating (seed 002: collect the customer's feedback). A
    link goes in the text too: an SMS has no button; the link works until the minute named (Korean time). A
    customer called by an agent is told to expect it."""
    if delivery == "phone_call":
        return (f"[목소리] 접수번호 {tracking_code} 민원의 처리 결과에 만족하셨는지 담당 직원이 전화로 여쭙겠습니다. "
                "잠시만 시간을 내어 주세요.")
    until = expires_at.astimezone(KST)
    return (f"[목소리] 접수번호 {tracking_code} 민원 처리에 만족하셨나요? {until.month}월 {until.day}일 {until:%H:%M}까지 "
            "만족도 조사에 참여해 주세요." + (f" {link}" if link else ""))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(secret: str, case_id: UUID, expires_at: datetime, *, consultation: bool = False) -> str:
    """A case's link, or (`consultation`) a consultation's: the kind is signed with the id, so one can
    never be answered as the other."""
    payload = f"{case_id}.{int(expires_at.timestamp())}{CONSULTATION_MARK if consultation else ''}".encode()
    sig = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:18]
    return f"{_b64(payload)}.{_b64(sig)}"


def _parse(token: str) -> tuple[bytes, bytes, Surveyed, datetime]:
    try:
        payload_b64, sig_b64 = token.split(".")
        payload, sig = _unb64(payload_b64), _unb64(sig_b64)
        id_text, expiry_text, *mark = payload.decode().split(".")
        if mark not in ([], [CONSULTATION_MARK[1:]]):
            raise ValueError
        kind = "consultation" if mark else "case"
        return payload, sig, Surveyed(kind, UUID(id_text)), datetime.fromtimestamp(int(expiry_text), UTC)
    except (ValueError, UnicodeDecodeError, OverflowError, OSError):  # an expiry no date can hold: overflow
        raise TokenError("survey token is malformed") from None


def verify_any(secret: str, token: str, now: datetime) -> Surveyed:
    """The case or consultation the token is for; raises TokenError saying whether it is forged or expired."""
    payload, sig, surveyed, expiry = _parse(token)
    want = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:18]
    if not hmac.compare_digest(want, sig):
        raise TokenError("survey token signature is invalid")
    if now >= expiry:
        raise TokenError(f"survey link expired at {expiry.isoformat()}")
    return surveyed


def verify_token(secret: str, token: str, now: datetime) -> UUID:
    """The case the token is for (a consultation's token is refused)."""
    surveyed = verify_any(secret, token, now)
    if surveyed.kind != "case":
        raise TokenError("survey token is a consultation's, not a case's")
    return surveyed.id


def token_expiry(token: str) -> datetime:
    """When a (verified) token stops working."""
    return _parse(token)[3]


def expiry(now: datetime, ttl_days: int) -> datetime:
    return now + timedelta(days=ttl_days)


@dataclass(frozen=True)
class Answer:
    csat: int | None
    nps: int | None
    ces: int | None
    comment: str | None

    def validate(self) -> None:
        if self.csat is None and self.nps is None and self.ces is None:
            raise ValueError("give at least one of csat (1-5), nps (0-10) or ces (1-7)")


def is_repeat(existing: Answer, new: Answer) -> bool:
    """A second response is fine only if it says the same thing."""
    return existing == new
