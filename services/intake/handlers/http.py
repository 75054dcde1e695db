"""Intake's HTTP API: channels submit, customers follow their case."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from services.intake.adapters import repository as repo
from services.intake.domain.submission import SubmitVoc, accept, access_secret, request_hash, secret_matches
from shared.runtime import runtime_of

router = APIRouter(prefix="/v1/voc", tags=["voc"])


def _error(status: int, message: str, field: str | None = None) -> JSONResponse:
    body: dict = {"error": message}
    if field:
        body["details"] = [{"field": field, "error": message}]
    return JSONResponse(body, status_code=status)


@router.post("", status_code=202, summary="Submit a VOC from any channel")
async def submit(body: SubmitVoc, request: Request,
                 idempotency_key: Annotated[str | None, Header(max_length=200)] = None) -> JSONResponse:
    """Answers 202 only after the case and its VocReceived outbox row are committed
    together. A retry with the same Idempotency-Key, or the same (channel,
    channel_message_id), returns the same case and the same response."""
    rt = runtime_of(request)
    intake = request.app.state.intake
    digest = request_hash(body)
    async with rt.pool.acquire() as conn:
        async with conn.transaction():
            prior = await repo.find_prior(conn, idempotency_key, body.channel, body.channel_message_id)
            if prior is None:
                case_id = uuid.uuid4()
                received_at = datetime.now(UTC)
                acc = accept(body, case_id=case_id, seq=await repo.next_seq(conn), received_at=received_at,
                             calendar=intake.calendar, response_days=intake.response_days)
                response = acc.response(access_secret(intake.access_key, case_id))
                inserted = await conn.fetchval(
                    repo.INSERT_CASE, case_id, acc.tracking_code, body.channel, body.channel_message_id,
                    idempotency_key, digest, acc.masked_text, intake.cipher.encrypt(body.text, case_id.bytes),
                    acc.masked_customer,
                    intake.cipher.encrypt(body.customer, case_id.bytes) if body.customer else None,
                    body.kind, body.affiliate, body.consent.model_dump(), body.occurred_at, received_at,
                    acc.first_response_due, response)
                if inserted is not None:
                    env = await rt.outbox.add(conn, acc.event)
                    await repo.add_timeline(conn, case_id, env.id, "received", received_at,
                                            "접수되었습니다.", {"channel": body.channel})
            if prior is None and inserted is None:  # a concurrent retry won the race
                prior = await repo.find_prior(conn, idempotency_key, body.channel, body.channel_message_id)
    if prior is not None:
        if prior["request_hash"] != digest:
            return _error(409, "this Idempotency-Key or channel_message_id was already used for a different VOC",
                          "Idempotency-Key" if idempotency_key else "channel_message_id")
        return JSONResponse(prior["response"], status_code=202, headers={"Idempotent-Replayed": "true"})
    rt.wake_relay()
    return JSONResponse(response, status_code=202)


@router.get("/{ref}", summary="Status and timeline of a case")
async def status(ref: str, request: Request,
                 x_case_secret: Annotated[str | None, Header()] = None) -> JSONResponse:
    """`ref` is the tracking code (VOC-2026-000123) or the case id; the caller shows
    the per-case secret it got at submission in the X-Case-Secret header."""
    rt = runtime_of(request)
    intake = request.app.state.intake
    async with rt.pool.acquire() as conn:
        row = await conn.fetchrow(repo.GET_CASE, ref)
        if row is None or not secret_matches(intake.access_key, row["id"], x_case_secret):
            return _error(404, f"no case {ref!r} for this secret")  # never tell which one was wrong
        timeline = await conn.fetch(repo.GET_TIMELINE, row["id"])
    return JSONResponse({
        "case_id": str(row["id"]),
        "tracking_code": row["tracking_code"],
        "channel": row["channel"],
        "status": row["status"],
        "text": row["text_masked"],
        "received_at": row["received_at"].isoformat(),
        "first_response_due": row["first_response_due"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "timeline": [{"status": t["status"], "at": t["at"].isoformat(), "message": t["message"],
                      **({"detail": t["detail"]} if t["detail"] else {})} for t in timeline],
    })
