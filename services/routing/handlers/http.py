"""Routing's HTTP API for affiliate teams: look at a case and work it through its lifecycle.

Each request names the affiliate team's key (X-Api-Key); a team sees and changes only
its own affiliate's cases (another affiliate's case is a 404). Reading or changing a case also names
the employee (X-Staff-Id, the 사번): every step is logged with who took it, and every read is kept
for the access audit."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.routing.adapters import repository as repo
from services.routing.domain.lifecycle import InvalidTransition, history_for
from shared.team_keys import key_digest
from services.routing.handlers.commands import UnknownCase, apply_command
from shared.bus import team_durable, team_subject
from shared.events import (
    STAFF_ID_RULE, AcknowledgeCase, Affiliate, CaseCommand, Channel, ExtendCase, Flag, Kind, Origin, ProvideInfo,
    ReclassifyCase, ReopenCase, RequestInfo, ResolveCase, ReviewSuggestion, SUGGESTION_CATEGORY_DOC,
    SuggestionCategory, Team, Text, Topic, TransferCase, Urgency, is_staff_id,
)
from shared.runtime import idempotency_key_header, runtime_of

router = APIRouter(prefix="/v1", tags=["cases"])
log = logging.getLogger(__name__)
ERRORS = {400: {"description": "no or malformed X-Staff-Id"}, 401: {"description": "no or unknown affiliate key"},
          404: {"description": "no such case for this affiliate"},
          409: {"description": "not allowed in the case's current state, or an Idempotency-Key used for another "
                               "command"}}


class CommandAnswer(BaseModel):
    """A command's outcome: the event it recorded (and published), or `unchanged` for a repeat."""
    status: Literal["recorded", "unchanged"]
    event: str | None = Field(None, examples=["CaseAcknowledged"])
    data: dict | None = Field(None, description="the event's payload")
    case_id: str | None = Field(None, description="with `unchanged`")


def affiliate_of(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> str:
    """The affiliate whose key this is; `group` (the consumer-protection office) sees every affiliate."""
    keys: dict[str, str] = request.app.state.team_keys  # by the key's sha256: no key is held in memory either
    affiliate = keys.get(key_digest(x_api_key)) if x_api_key else None
    if affiliate is None:
        raise HTTPException(401, "an affiliate key is required (X-Api-Key)")
    return affiliate


Caller = Annotated[str, Depends(affiliate_of)]


def staff_of(request: Request, x_staff_id: Annotated[str | None, Header(
        description="the employee (사번) who reads or acts, kept in the case's audit log", examples=["C20231107"])
        ] = None) -> str | None:
    """The employee behind the request: an affiliate key says which team, not who. The affiliate's system
    vouches for it (its key is the credential), as it does for its own staff's logins. None only while
    REQUIRE_STAFF_ID is false."""
    if not x_staff_id:
        if not request.app.state.require_staff_id:
            return None
        raise HTTPException(400, "X-Staff-Id is required: the employee number (사번) of who reads or acts on the "
                                 "case, kept in its audit log")
    if not is_staff_id(x_staff_id):
        raise HTTPException(400, f"X-Staff-Id must be {STAFF_ID_RULE}")
    return x_staff_id


Staff = Annotated[str | None, Depends(staff_of)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AcknowledgeBody(_Body):
    handler_name: Text = Field(min_length=1, max_length=100, examples=["김민지"])
    handler_contact: Text = Field(min_length=1, max_length=100, examples=["02-1234-5678"])


class ResolveBody(_Body):
    resolution: Text = Field(min_length=1, max_length=5000, examples=["이중 결제 건 취소 처리 완료, 3영업일 내 환불"])
    outcome: Literal["accepted", "partially_accepted", "rejected", "answered"] = "answered"


class RequestInfoBody(_Body):
    what: Text = Field(min_length=1, max_length=1000, examples=["거래내역서와 신분증 사본"])


class ProvideInfoBody(_Body):
    note: Text | None = Field(None, max_length=1000, examples=["카드 이용대금 명세서 사본 수령"],
                              description="what arrived; kept in the case log and shown on the customer's timeline")


class ExtendBody(_Body):
    reason: Text = Field(min_length=2, max_length=1000, examples=["가맹점 확인에 시일이 소요됨"])
    business_days: int = Field(14, ge=1, le=14)


class TransferBody(_Body):
    affiliate: Affiliate
    team: Team
    reason: Text = Field(min_length=2, max_length=1000)
    by: Text = Field(min_length=1, max_length=100)


class ReasonBody(_Body):
    reason: Text = Field(min_length=2, max_length=1000)


class ReclassifyBody(_Body):
    kind: Kind
    topic: Topic
    by: Text = Field(min_length=1, max_length=100)


class ReviewBody(_Body):
    outcome: Literal["adopted", "rejected"]
    reason: Text = Field(min_length=2, max_length=1000)
    category: SuggestionCategory | None = Field(None, description=SUGGESTION_CATEGORY_DOC + (
        "; left out, the category the customer chose, if any (customer_category)"))


async def _owned(request: Request, case_id: UUID, caller: str) -> None:
    row = await runtime_of(request).pool.fetchrow("SELECT affiliate FROM routing.cases WHERE case_id = $1", case_id)
    if row is None or (caller != "group" and row["affiliate"] != caller):
        raise HTTPException(404, f"no case {case_id} for {caller}")


IdempotencyKey = Annotated[str | None, idempotency_key_header(
    "the team system's own, per affiliate: a retry with the same key (after a timeout, a dropped "
    "connection) answers what the first request did, with `Idempotent-Replayed: true`, instead of "
    "acting again or refusing a step already taken; the same key for another command is a 409")]


REPLAYED = {"Idempotent-Replayed": {"description": "`true` when the answer is the first request's with the same "
                                                  "Idempotency-Key, given again", "schema": {"type": "string"}}}


def _command_digest(cmd: CaseCommand) -> str:
    """The command a key was used for: its type and every field (the employee's too: another employee's
    request with the same key is another command)."""
    return hashlib.sha256(f"{type(cmd).__name__}:{cmd.model_dump_json()}".encode()).hexdigest()


async def _claim_key(conn, caller: str, key: str, digest: str) -> JSONResponse | None:
    """None once the key is this request's (in its transaction); else the answer to give: the first
    request's again, or a 409 when the key was used for another command."""
    for _ in range(3):  # a key that housekeeping deletes between the claim and the look is claimed again
        if await conn.fetchval(repo.CLAIM_COMMAND_KEY, caller, key, digest):
            return None
        if earlier := await conn.fetchrow(repo.COMMAND_KEY, caller, key):
            if earlier["command"] != digest:
                return JSONResponse({"error": "this Idempotency-Key was already used for another command",
                                     "details": [{"field": "Idempotency-Key", "error": "used for another command"}]},
                                    status_code=409)
            return JSONResponse(earlier["answer"], status_code=200, headers={"Idempotent-Replayed": "true"})
    raise RuntimeError(f"Idempotency-Key {key!r} neither claimed nor found three times")


async def _run(request: Request, cmd: CaseCommand, caller: str, idempotency_key: str | None = None) -> JSONResponse:
    rt = runtime_of(request)
    try:  # the caller's ownership is checked under the case's lock (apply_command)
        async with rt.pool.acquire() as conn, conn.transaction():
            if idempotency_key is not None and (
                    earlier := await _claim_key(conn, caller, idempotency_key, _command_digest(cmd))):
                return earlier
            event = await apply_command(conn, rt.outbox, cmd, request.app.state.calendar, owner=caller,
                                        require_staff=request.app.state.require_staff_id,
                                        directory=request.app.state.directory)
            answer = {"status": "unchanged", "case_id": str(cmd.case_id)} if event is None else \
                {"status": "recorded", "event": type(event).__name__, "data": event.model_dump(mode="json")}
            if idempotency_key is not None:
                await conn.execute(repo.ANSWER_COMMAND_KEY, caller, idempotency_key, answer)
    except UnknownCase:  # not routed, or another affiliate's: the same answer, so neither is told apart
        return JSONResponse({"error": f"no case {cmd.case_id} for {caller}"}, status_code=404)
    except InvalidTransition as exc:  # rolled back, the key with it: a retry is judged again
        return JSONResponse({"error": str(exc)}, status_code=409)
    rt.wake_relay()
    return JSONResponse(answer, status_code=200)


def _command(path: str, body_type: type[_Body], cmd_type: type[CaseCommand], summary: str) -> None:
    async def endpoint(case_id: UUID, body: body_type, request: Request, caller: Caller,  # type: ignore[valid-type]
                       staff: Staff, idempotency_key: IdempotencyKey = None) -> JSONResponse:
        return await _run(request, cmd_type(case_id=case_id, staff_id=staff, **body.model_dump()), caller,
                          idempotency_key)

    endpoint.__name__ = path.replace("-", "_")
    endpoint.__annotations__["body"] = body_type  # a local, which string annotations cannot name
    router.add_api_route(f"/cases/{{case_id}}/{path}", endpoint, methods=["POST"], summary=summary,
                         responses={200: {"model": CommandAnswer, "headers": REPLAYED}, **ERRORS})


_command("acknowledge", AcknowledgeBody, AcknowledgeCase, "Take the case; the customer is told who handles it")
_command("request-info", RequestInfoBody, RequestInfo,
         "Ask the customer for documents; the SLA clock pauses (asked again while waiting: more is needed, and the "
         "customer is told)")
_command("provide-info", ProvideInfoBody, ProvideInfo, "The documents arrived; the clock resumes")
_command("extend", ExtendBody, ExtendCase, "Extend once, by up to 14 business days, with a reason told to the customer")
_command("transfer", TransferBody, TransferCase, "Move to another affiliate or team; the SLA carries over")
_command("resolve", ResolveBody, ResolveCase, "Resolve with outcome and summary; the customer is then surveyed")
_command("reopen", ReasonBody, ReopenCase, "Reopen a resolved case")
_command("reclassify", ReclassifyBody, ReclassifyCase, "Correct the topic or kind (kept for retraining)")
_command("review", ReviewBody, ReviewSuggestion, "Adopt or reject a suggestion")


class HistoryEntry(BaseModel):
    event: str = Field(examples=["CaseAcknowledged"], description="the event recorded (and published)")
    at: datetime
    data: dict = Field(description="the event's payload")
    staff_id: str | None = Field(description="the employee who took the step; null for the services' own steps")


class CaseRead(BaseModel):
    """One opening of the case through this API."""
    affiliate: Affiliate = Field(description="whose key read it (group: the consumer-protection office)")
    staff_id: str | None = Field(examples=["C20231107"], description="null: read while REQUIRE_STAFF_ID was false")
    at: datetime


class CaseView(BaseModel):
    """A routed case as its team works it: where it is, its SLA clock (deadlines in business days,
    Korean holidays excluded) and every change, oldest first. Masked text only."""
    case_id: UUID
    tracking_code: str = Field(examples=["VOC-20261120-000123"], description="the code the customer was given")
    channel: Channel
    affiliate: Affiliate
    team: Team
    kind: Kind
    topic: Topic
    urgency: Urgency
    flags: list[Flag]
    copied_to_cpo: bool = Field(description="copied to the consumer-protection office (a risk flag or critical)")
    origin: Origin
    status: Literal["routed", "acknowledged", "waiting_info", "resolved"]
    received_at: datetime
    routed_at: datetime
    ack_due: datetime | None = Field(description="acknowledge by: hours for a critical case, business days for the "
                                                 "rest (the directory's SLA table); afresh when a case resolved "
                                                 "unacknowledged is reopened")
    resolve_due: datetime = Field(description="resolve by: the directory's business days from receipt (14), moved "
                                              "by pauses for documents and an extension; 14 from a reopening")
    warn_at: datetime | None = Field(description="when the team's supervisor is warned, if still open")
    warned_at: datetime | None
    breached_at: datetime | None = Field(description="when the resolve deadline passed with the case open")
    ack_breached_at: datetime | None
    paused_at: datetime | None = Field(description="waiting for the customer's documents since (clock paused)")
    info_requested: str | None = Field(default=None, description="while waiting: the documents last asked for (a "
                                                                 "request for more is told to the customer)")
    extended: bool
    extension_reason: str | None
    acknowledged_at: datetime | None
    handler_name: str | None
    handler_contact: str | None
    resolved_at: datetime | None
    resolution: str | None
    outcome: Literal["accepted", "partially_accepted", "rejected", "answered"] | None
    reopened_count: int
    review_outcome: Literal["adopted", "rejected"] | None = Field(description="suggestions: the review's decision")
    review_reason: str | None
    review_category: SuggestionCategory | None = Field(description="suggestions: what it is about, as reviewed")
    customer_category: SuggestionCategory | None = Field(
        description="suggestions: the category the customer chose when submitting it (the review keeps it unless "
                    "it names another)")
    history: list[HistoryEntry]


class QueueInfo(BaseModel):
    """Where an affiliate team reads its queue on NATS (a durable pull consumer) and where its
    supervisor's escalations arrive."""
    affiliate: Affiliate
    team: Team
    team_name: str = Field(examples=["일반 민원팀"])
    subject: str = Field(examples=["voc.routed.card.general"])
    stream: Literal["VOC_ROUTED"]
    durable: str = Field(examples=["team-card-general"])
    supervisor_subject: str = Field(examples=["voc.escalation.card.general"])


@router.get("/cases/{case_id}", summary="A routed case with its SLA clock and history", responses=ERRORS)
async def get_case(case_id: UUID, request: Request, caller: Caller, staff: Staff) -> CaseView:
    # owner checked on the very row shown, in one snapshot with its log: checked apart, a transfer committed
    # in between showed the case to the affiliate it had just left
    async with runtime_of(request).pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        row = await conn.fetchrow(repo.GET_CASE, case_id)
        if row is None or (caller != "group" and row["affiliate"] != caller):
            raise HTTPException(404, f"no case {case_id} for {caller}")
        await conn.execute(repo.RECORD_READ, case_id, caller, staff)  # committed before the case is shown
        steps = await conn.fetch(repo.GET_LOG, case_id)
    return CaseView(**dict(row), history=[HistoryEntry(**r) for r in history_for(caller, [dict(r) for r in steps])])


@router.get("/cases/{case_id}/reads", summary="Who opened the case, and when (the access audit)",
            responses={**ERRORS, 403: {"description": "not the consumer-protection office's key"}})
async def case_reads(case_id: UUID, request: Request, caller: Caller, staff: Staff) -> list[CaseRead]:
    """For the consumer-protection office (the group key) only: an affiliate does not see who looked into its
    cases, so an employee under review is not tipped off, and a case transferred between affiliates does
    not show one affiliate's staff to the other. Reading the audit is logged, not added to it."""
    if caller != "group":
        raise HTTPException(403, "the access audit is for the consumer-protection office's key")
    await _owned(request, case_id, caller)
    log.info("access audit of case %s read by %s", case_id, staff or "an unnamed employee of the office")
    return [CaseRead(**dict(r)) for r in await runtime_of(request).pool.fetch(repo.GET_READS, case_id)]


@router.get("/queues", summary="Every affiliate team queue: NATS subject and durable consumer")
async def queues(request: Request) -> list[QueueInfo]:
    directory = request.app.state.directory
    return [QueueInfo(affiliate=a, team=t, team_name=directory.teams[t], subject=team_subject(a, t),
                      stream="VOC_ROUTED", durable=team_durable(a, t), supervisor_subject=f"voc.escalation.{a}.{t}")
            for a in directory.affiliates for t in directory.teams]
