"""Accepting a VOC, the same for HTTP, partner CloudEvents and bulk import: the case
row, its timeline entry, the VocReceived event and the receipt notice are
committed in one transaction, or not at all."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import asyncpg

from services.intake.adapters import repository as repo
from services.intake.domain.submission import accept, access_secret, original_document, request_hash, status_link
from shared.bizcal import BusinessCalendar
from shared.events import CustomerNoticeRequested, VocSubmission
from shared.outbox import Outbox
from shared.pii_crypto import PiiCipher


@dataclass(frozen=True)
class IntakeDeps:
    cipher: PiiCipher
    access_key: str
    calendar: BusinessCalendar
    response_days: int
    tracking: repo.TrackingNumbers = field(default_factory=repo.TrackingNumbers)
    status_base_url: str | None = None  # the receipt notice links the customer's status page (status_page.py)


@dataclass(frozen=True)
class Outcome:
    status: Literal["accepted", "replayed", "conflict"]
    response: dict


Insert = Callable[[tuple], Awaitable[bool]]


async def submit_voc(conn: asyncpg.Connection | asyncpg.Pool, deps: IntakeDeps, outbox: Outbox, body: VocSubmission, *,
                     idempotency_key: str | None, submitted_by: str, case_id: uuid.UUID | None = None,
                     insert: Insert | None = None, received_at: datetime | None = None,
                     legacy_key: str | None = None) -> Outcome:
    """`case_id` is given only when it was promised earlier (a live call's alerts already name it).
    `received_at` is given only by a backfill: when the source system received the VOC (bulk.py).
    `insert` lets the HTTP path group-commit (AcceptBatcher); consumers insert on `conn`,
    inside their own transaction. `legacy_key` is an HTTP Idempotency-Key as it was stored before
    keys were kept per channel system (apikeys.scoped_key): a case stored under it is the prior one.

    The insert is tried first; only when it hits an existing key is the earlier answer
    looked up, so a new VOC costs one statement."""
    digest = request_hash(body)
    case_id = case_id or uuid.uuid4()
    now = datetime.now(UTC)
    received_at = received_at or now
    acc = accept(body, case_id=case_id, seq=await deps.tracking.next(conn), received_at=received_at,
                 calendar=deps.calendar, response_days=deps.response_days, pseudonym_key=deps.access_key)
    secret = access_secret(deps.access_key, case_id)
    response = acc.response(secret)
    link = (f" 처리 현황: {status_link(deps.status_base_url, acc.tracking_code, secret)}"
            if deps.status_base_url else "")
    # a receipt notice promises an answer date; a backfilled case whose date has passed is history being
    # filed: no notice (the source system acknowledged it when it came in), and no alarms downstream
    if acc.first_response_due > now:
        events = [acc.event, CustomerNoticeRequested(
            case_id=case_id, notice="receipt", tracking_code=acc.tracking_code, channel=body.channel,
            message=f"[목소리] 고객님의 소중한 의견이 접수되었습니다. 접수번호 {acc.tracking_code}, "
                    f"답변 예정일 {acc.first_response_due:%Y-%m-%d}.{link}",
            due=acc.first_response_due)]
    else:
        events = [acc.event.model_copy(update={"backfill": True})]
    args = (
        case_id, acc.tracking_code, body.channel, body.channel_message_id, idempotency_key,
        digest, acc.masked_text, deps.cipher.encrypt(original_document(body), case_id.bytes), acc.masked_customer,
        body.kind, body.affiliate, body.consent.model_dump(), body.occurred_at, received_at,
        acc.first_response_due, response, submitted_by,
        *outbox.columns(events),
        "접수되었습니다.", {"channel": body.channel, "first_response_due": acc.first_response_due.isoformat()},
        legacy_key)
    inserted = await insert(args) if insert else bool((await repo.accept_cases(conn, [args]))[0])
    if inserted:
        return Outcome("accepted", response)
    prior = await repo.find_prior(conn, idempotency_key, body.channel, body.channel_message_id, legacy_key,
                                  submitted_by)
    if prior is None or prior["request_hash"] != digest:
        return Outcome("conflict", {})
    return Outcome("replayed", prior["response"])
