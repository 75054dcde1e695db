"""What a channel submits, and the pure decisions intake makes about it."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.bizcal import BusinessCalendar
from shared.events import Affiliate, Channel, Consent, Kind, VocReceived
from shared.pii import mask_text

MAX_TEXT_CHARS = 20_000


class SubmitVoc(BaseModel):
    """POST /v1/voc body."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    channel: Channel
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="the customer's words, in Korean")
    kind: Kind | None = Field(None, description="the channel's hint; the classifier decides")
    affiliate: Affiliate | None = Field(None, description="the app or site it came from")
    customer: str | None = Field(None, max_length=200, description="customer reference; masked on the bus")
    channel_message_id: str | None = Field(None, max_length=200)
    consent: Consent = Consent()
    occurred_at: datetime | None = None

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("must include a time zone, for example 2026-11-20T10:15:00+09:00")
        return v


def request_hash(body: SubmitVoc) -> str:
    return hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def tracking_code(received_at: datetime, seq: int) -> str:
    return f"VOC-{received_at.year}-{seq:06d}"


def access_secret(key: str, case_id: uuid.UUID) -> str:
    """Per-case secret the customer uses to follow the case; derived, so a retried
    submission returns the same one and nothing secret is stored."""
    return hmac.new(key.encode(), f"case-access:{case_id}".encode(), hashlib.sha256).hexdigest()[:32]


def secret_matches(key: str, case_id: uuid.UUID, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(access_secret(key, case_id), given or "")


@dataclass(frozen=True)
class Acceptance:
    case_id: uuid.UUID
    tracking_code: str
    received_at: datetime
    first_response_due: datetime
    masked_text: str
    masked_customer: str | None
    event: VocReceived

    def response(self, secret: str) -> dict:
        return {
            "case_id": str(self.case_id),
            "tracking_code": self.tracking_code,
            "status": "received",
            "received_at": self.received_at.isoformat(),
            "first_response_due": self.first_response_due.isoformat(),
            "access_secret": secret,
            "status_url": f"/v1/voc/{self.tracking_code}",
        }


def accept(body: SubmitVoc, *, case_id: uuid.UUID, seq: int, received_at: datetime,
           calendar: BusinessCalendar, response_days: int) -> Acceptance:
    code = tracking_code(received_at.astimezone(calendar.tz), seq)
    due = calendar.add_business_days(received_at, response_days)
    masked = mask_text(body.text)
    customer = mask_text(body.customer) if body.customer else None
    event = VocReceived(
        case_id=case_id, tracking_code=code, channel=body.channel, text=masked, kind_hint=body.kind,
        affiliate_hint=body.affiliate, customer_ref=customer, consent=body.consent,
        received_at=received_at, first_response_due=due)
    return Acceptance(case_id, code, received_at, due, masked, customer, event)
