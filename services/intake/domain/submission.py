"""What a channel submits, and the pure decisions intake makes about it."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from shared.bizcal import BusinessCalendar
from shared.events import MAX_TEXT_CHARS, Turn, VocReceived, VocSubmission
from shared.pii import mask_customer_ref, mask_speech, mask_text

__all__ = ["MAX_TEXT_CHARS", "SubmitVoc", "accept", "access_secret", "request_hash", "secret_matches",
           "tracking_code"]

SubmitVoc = VocSubmission  # the HTTP body is the shared submission model


# fields added to the submission after its first release: hashed only when set, so that a body sent before
# they existed hashes as it did then (a retry across an upgrade is a replay, not a conflict)
HASHED_ONLY_WHEN_SET = ("suggestion_category",)


def request_hash(body: VocSubmission) -> str:
    data = body.model_dump(mode="json")
    for name in HASHED_ONLY_WHEN_SET:
        if data.get(name) is None:
            data.pop(name, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def tracking_code(received_at: datetime, seq: int) -> str:
    return f"VOC-{received_at.year}-{seq:06d}"


def access_secret(key: str, case_id: uuid.UUID) -> str:
    """Per-case secret the customer uses to follow the case; derived, so a retried
    submission returns the same one and nothing secret is stored."""
    return hmac.new(key.encode(), f"case-access:{case_id}".encode(), hashlib.sha256).hexdigest()[:32]


def status_link(base_url: str, tracking_code: str, secret: str) -> str:
    """What the receipt notice links: the customer's status page for the case, its secret in the
    fragment, which browsers send to no server (handlers/status_page.py)."""
    return f"{base_url}/{tracking_code}#{secret}"


def customer_key(key: str, customer: str) -> str:
    """A keyed pseudonym of the customer reference, the same for the same customer however
    the channel wrote it (홍길동 010-1234-5678 / 01012345678): numbers identify a customer when
    there are enough of them, else the whitespace-free, case-folded text. Nothing about the
    customer can be read back from it; rotating CASE_ACCESS_KEY starts repeat detection afresh."""
    digits = "".join(ch for ch in customer if ch.isdigit())
    ident = f"n:{digits}" if len(digits) >= 7 else "t:" + "".join(customer.split()).casefold()
    return hmac.new(key.encode(), f"customer:{ident}".encode(), hashlib.sha256).hexdigest()[:32]


def secret_matches(key: str, case_id: uuid.UUID, given: str | None) -> bool:
    # as bytes: compare_digest refuses str with letters outside ASCII (a 500 for an existing case only)
    return bool(given) and hmac.compare_digest(access_secret(key, case_id).encode(), (given or "").encode())


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
            "receipt_notice": "요청하신 민원이 접수되었습니다.",
        }


def accept(body: VocSubmission, *, case_id: uuid.UUID, seq: int, received_at: datetime,
           calendar: BusinessCalendar, response_days: int, pseudonym_key: str = "") -> Acceptance:
    """Everything that leaves intake is built here, from masked copies only."""
    code = tracking_code(received_at.astimezone(calendar.tz), seq)
    due = calendar.add_business_days(received_at, response_days)
    # a phone case is transcribed speech: numbers said out or cut across turns (pii.mask_speech)
    mask_said = mask_speech if body.channel == "phone" else mask_text
    masked = mask_said(body.text)
    customer = mask_customer_ref(body.customer) if body.customer else None
    event = VocReceived(
        case_id=case_id, tracking_code=code, channel=body.channel, text=masked, kind_hint=body.kind,
        affiliate_hint=body.affiliate, customer_ref=customer, consent=body.consent,
        customer_key=customer_key(pseudonym_key, body.customer) if body.customer and pseudonym_key else None,
        received_at=received_at, first_response_due=due,
        title=mask_text(body.title) if body.title else None,
        transcript=tuple(Turn(speaker=t.speaker, text=mask_said(t.text), at=t.at) for t in body.transcript),
        staff_id=body.staff_id, origin=body.origin, product=body.product,
        suggestion_category=body.suggestion_category, attachments=tuple(
            a.model_copy(update={"filename": mask_text(a.filename), "content_type": mask_text(a.content_type)})
            for a in body.attachments))
    return Acceptance(case_id, code, received_at, due, masked, customer, event)


def original_document(body: VocSubmission) -> str:
    """The unmasked submission, encrypted at rest as one JSON document."""
    return body.model_dump_json(include={"text", "customer", "title", "transcript"})
