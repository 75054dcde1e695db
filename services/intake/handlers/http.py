"""Intake's HTTP API: channel systems submit, customers and channels follow cases,
privacy officers reveal originals under audit."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.intake.adapters import repository as repo
from services.intake.domain.apikeys import ApiKey, scoped_key
from services.intake.domain.email_parse import EmailParseError, parse_email
from services.intake.domain.submission import secret_matches
from services.intake.handlers.guard import optional_key, submitter
from services.intake.handlers.submit import submit_voc
from shared.events import Affiliate, Text, VocSubmission
from shared.pii import mask_text
from shared.runtime import idempotency_key_header, runtime_of

router = APIRouter(prefix="/v1/voc", tags=["voc"])

class ErrorBody(BaseModel):
    error: str
    details: list[dict] | None = None


class Accepted(BaseModel):
    """The answer to an accepted VOC (the same again for a retry of it)."""
    case_id: str
    tracking_code: str = Field(examples=["VOC-2026-000123"])
    status: str = Field(examples=["received"])
    received_at: str
    first_response_due: str
    access_secret: str = Field(description="the customer shows it in X-Case-Secret to follow the case")
    status_url: str = Field(examples=["/v1/voc/VOC-2026-000123"])
    receipt_notice: str = Field(examples=["요청하신 민원이 접수되었습니다."])


class TimelineStep(BaseModel):
    status: str
    at: str
    message: str = Field(examples=["카드 소비자보호팀에 배정되었습니다."])
    detail: dict | None = None


class CaseStatus(BaseModel):
    """What the customer (or the system that submitted the case) sees: masked text, status and timeline."""
    case_id: str
    tracking_code: str
    channel: str
    status: str
    text: str = Field(description="masked")
    received_at: str
    first_response_due: str
    expected_resolution: str
    updated_at: str
    timeline: list[TimelineStep]


def _documented(*codes: int) -> dict:
    text = {400: "body is not valid UTF-8 or not a readable e-mail", 401: "no or bad API key",
            403: "key lacks the role or channel", 404: "no such case for these credentials",
            409: "Idempotency-Key or channel_message_id reused for a different VOC", 410: "original purged",
            413: "body too large", 415: "wrong content type", 429: "rate limited; see Retry-After"}
    return {c: {"description": text[c], "model": ErrorBody} for c in codes}


ERRORS = _documented(400, 401, 403, 413, 429)


# which part of a mail a submission field came from (email_parse.py)
_MAIL_PART = {"customer": "from", "title": "subject", "text": "body", "channel_message_id": "message-id",
              "attachments": "attachments", "occurred_at": "date"}


def _error(status: int, message: str, field: str | None = None) -> JSONResponse:
    body: dict = {"error": message}
    if field:
        body["details"] = [{"field": field, "error": message}]
    return JSONResponse(body, status_code=status)


@router.post("", status_code=202, summary="Submit a VOC from any channel",
             responses={202: {"model": Accepted}, **ERRORS, **_documented(409)})
async def submit(body: VocSubmission, request: Request, key: Annotated[ApiKey, Depends(submitter)],
                 idempotency_key: Annotated[str | None, idempotency_key_header(
                     "the channel system's own: kept per API key name, so another system's key of the same "
                     "spelling is a different key")] = None
                 ) -> JSONResponse:
    """Answers 202 only after the case, its VocReceived event and the receipt notice
    are committed together. A retry with the same Idempotency-Key, or the same
    (channel, channel_message_id), from the same channel system (API key name) returns the same
    case and the same response."""
    return await answer_submission(request.app, body, key, idempotency_key)


async def answer_submission(app, body: VocSubmission, key: ApiKey, idempotency_key: str | None) -> JSONResponse:
    """The route's work once the key and the body are valid (also the fast path's: fast_submit.py)."""
    if not key.allows_channel(body.channel):
        return _error(403, f"key {key.name} may not submit for channel {body.channel!r}", "channel")
    rt = app.state.runtime
    # the pool, not a held connection: the batcher needs connections while this request waits
    outcome = await submit_voc(rt.pool, app.state.intake, rt.outbox, body,
                               idempotency_key=scoped_key(key.name, idempotency_key), submitted_by=key.name,
                               legacy_key=idempotency_key,
                               insert=app.state.batcher.insert)
    if outcome.status == "conflict":
        return _error(409, "this Idempotency-Key or channel_message_id was already used for a different VOC",
                      "Idempotency-Key" if idempotency_key else "channel_message_id")
    if outcome.status == "replayed":
        return JSONResponse(outcome.response, status_code=202, headers={"Idempotent-Replayed": "true"})
    # its events are published by the batcher's dispatch (or, if it left them, the relay it woke)
    return JSONResponse(outcome.response, status_code=202)


@router.post("/email", status_code=202, summary="Submit a raw RFC 5322 e-mail (Content-Type: message/rfc822)",
             responses={202: {"model": Accepted}, **ERRORS, **_documented(409, 415)},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "message/rfc822": {"schema": {"type": "string", "format": "binary"}}}}})
async def submit_email(request: Request, key: Annotated[ApiKey, Depends(submitter)],
                       affiliate: Affiliate | None = None) -> JSONResponse:
    """The subject and the plain-text body are kept (HTML is reduced to text when there
    is no plain part); attachments are recorded as metadata only. The Message-ID makes
    a re-delivered mail the same case."""
    if (request.headers.get("content-type") or "").split(";")[0].strip().lower() != "message/rfc822":
        return _error(415, "send the raw mail with Content-Type: message/rfc822", "content-type")
    try:
        body = parse_email(await request.body(), affiliate=affiliate)
    except EmailParseError as exc:
        return _error(400, f"cannot read the e-mail: {exc}", "body")
    except ValidationError as exc:  # named by the mail's own parts, never echoing their content
        e = exc.errors()[0]
        part = _MAIL_PART.get(str(e["loc"][0]) if e["loc"] else "", "body")
        return _error(400, f"cannot read the e-mail: {part}: {mask_text(e['msg'])}", part)
    return await submit(body, request, key, idempotency_key=None)


# a case's status is the customer's own (browsers ask for it from the status page): never kept by a cache
PRIVATE = {"Cache-Control": "no-store", "Vary": "X-Case-Secret, X-Api-Key, Authorization"}

# longer than a ref can be: a case id is 47 characters at most (as urn:uuid:{…}), a tracking code 28
# (VOC-2026- and a bigint sequence)
MAX_REF = 64


def _no_case_can_have(ref: str) -> bool:
    """A control character or too long: answered as an unknown case without asking the database,
    which refuses a NUL in a text parameter (asyncpg raised, and the route answered 500)."""
    return len(ref) > MAX_REF or not ref.isprintable()


@router.get("/{ref}", summary="Status and timeline of a case",
            responses={200: {"model": CaseStatus}, **_documented(401, 404, 429)})
async def status(ref: str, request: Request, key: Annotated[ApiKey | None, Depends(optional_key)],
                 x_case_secret: Annotated[str | None, Header()] = None) -> JSONResponse:
    """`ref` is the tracking code (VOC-2026-000123) or the case id. Customers show the
    per-case secret they got at submission in X-Case-Secret; a channel system uses its API key
    (role `read`) for the cases it submitted itself (under the same key name: a rotated key keeps
    its name). Channels are shared by the group's affiliates, so a channel alone is no scope."""
    if _no_case_can_have(ref):
        return _error(404, f"no case {ref!r} for these credentials")
    rt = runtime_of(request)
    # the case and its timeline from one snapshot: read apart, a batch of events committed between
    # the two reads showed its entries in the timeline but the status from before them
    async with rt.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        row = await conn.fetchrow(repo.GET_CASE, *repo.ref_args(ref))
        allowed = row is not None and (
            secret_matches(request.app.state.intake.access_key, row["id"], x_case_secret)
            or (key is not None and key.has_role("read") and key.allows_channel(row["channel"])
                and row["submitted_by"] == key.name))
        if not allowed:
            return _error(404, f"no case {ref!r} for these credentials")  # never tell which part was wrong
        timeline = await conn.fetch(repo.GET_TIMELINE, row["id"])
    return JSONResponse({
        "case_id": str(row["id"]),
        "tracking_code": row["tracking_code"],
        "channel": row["channel"],
        "status": row["status"],
        "text": row["text_masked"],
        "received_at": row["received_at"].isoformat(),
        "first_response_due": row["first_response_due"].isoformat(),
        "expected_resolution": (row["expected_resolution"] or row["first_response_due"]).isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "timeline": [{"status": t["status"], "at": t["at"].isoformat(), "message": t["message"],
                      **({"detail": t["detail"]} if t["detail"] else {})} for t in timeline],
    }, headers=PRIVATE)


class RevealRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: Text = Field(min_length=10, max_length=500, examples=["금감원 이첩 민원 회신 자료 작성 (민원번호 2026-1234)"])


@router.post("/{ref}/reveal", summary="Decrypt the original submission (audited; role `reveal`)",
             responses={**ERRORS, **_documented(404, 410)})
async def reveal(ref: str, body: RevealRequest, request: Request,
                 key: Annotated[ApiKey | None, Depends(optional_key)]) -> JSONResponse:
    """For a privacy officer's key with the role `reveal`, within its scope: the case's channel among the
    key's channels, and the affiliate that has the case now (its routing, or the latest transfer) among
    the key's affiliates (`group`, the holding company, is one: its own cases, e.g. group points). A key
    of `all`, the group's consumer-protection office, sees every case, also one not routed yet (whose
    affiliate is not known), which no affiliate's key sees. A case outside the scope is a 404, as an
    unknown one is. A key without an affiliate scope (issued before it) is refused (403) until it is
    created again with one. Every reveal is recorded with its reason."""
    if key is None or not key.has_role("reveal"):
        return _error(403, "revealing personal data needs an API key with the reveal role")
    if not key.affiliates:
        return _error(403, f"key {key.name} has no affiliate scope, so it may reveal no case: create it again with "
                           "the affiliates whose cases it may reveal (moksori keys create --replace --affiliates …, "
                           "or --affiliates all for the group's consumer-protection office)")
    if _no_case_can_have(ref):
        return _error(404, f"no case {ref!r} for this key")
    rt = runtime_of(request)
    async with rt.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(repo.GET_ORIGINAL, *repo.ref_args(ref))
        # affiliates see only their own cases: whether another's exists is not told either
        if row is None or not key.allows_channel(row["channel"]) or not key.sees_affiliate(row["affiliate"]):
            return _error(404, f"no case {ref!r} for this key")
        if row["purged_at"] is not None:
            return _error(410, f"the original was purged on {row['purged_at']:%Y-%m-%d} (retention)")
        await conn.execute(repo.INSERT_REVEAL_AUDIT, row["id"], key.name, body.reason,
                           request.client.host if request.client else None)
        original = request.app.state.intake.cipher.decrypt(row["text_encrypted"], row["id"].bytes)
    return JSONResponse({"case_id": str(row["id"]), "original": json.loads(original),
                         "audit": {"by": key.name, "reason": body.reason}})
