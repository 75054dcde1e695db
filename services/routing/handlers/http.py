"""Routing's HTTP API for affiliate teams: look at a case, acknowledge, resolve."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.routing.adapters import repository as repo
from services.routing.domain.lifecycle import InvalidTransition
from services.routing.handlers.commands import UnknownCase, apply_command
from shared.bus import team_durable, team_subject
from shared.events import AcknowledgeCase, Command, ResolveCase, Text
from shared.runtime import runtime_of

router = APIRouter(prefix="/v1", tags=["cases"])


class AcknowledgeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    handler_name: Text = Field(min_length=1, max_length=100, examples=["김민지"])
    handler_contact: Text = Field(min_length=1, max_length=100, examples=["02-1234-5678"])


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    resolution: Text = Field(min_length=1, max_length=5000, examples=["이중 결제 건 취소 처리 완료, 3영업일 내 환불"])


async def _run(request: Request, cmd: Command) -> JSONResponse:
    rt = runtime_of(request)
    try:
        async with rt.pool.acquire() as conn, conn.transaction():
            event = await apply_command(conn, rt.outbox, cmd)
    except UnknownCase as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)
    except InvalidTransition as exc:
        return JSONResponse({"error": str(exc)}, status_code=409)
    rt.wake_relay()
    if event is None:
        return JSONResponse({"status": "unchanged", "case_id": str(cmd.case_id)}, status_code=200)
    return JSONResponse({"status": "recorded", "event": type(event).__name__,
                         "data": event.model_dump(mode="json")}, status_code=200)


@router.post("/cases/{case_id}/acknowledge", summary="Take the case: handler's name and contact go to the customer")
async def acknowledge(case_id: UUID, body: AcknowledgeBody, request: Request) -> JSONResponse:
    return await _run(request, AcknowledgeCase(case_id=case_id, **body.model_dump()))


@router.post("/cases/{case_id}/resolve", summary="Resolve the case; the customer is then asked for feedback")
async def resolve(case_id: UUID, body: ResolveBody, request: Request) -> JSONResponse:
    return await _run(request, ResolveCase(case_id=case_id, **body.model_dump()))


@router.get("/cases/{case_id}", summary="A routed case with its SLA deadlines")
async def get_case(case_id: UUID, request: Request) -> JSONResponse:
    row = await runtime_of(request).pool.fetchrow(repo.GET_CASE, case_id)
    if row is None:
        return JSONResponse({"error": f"case {case_id} has not been routed"}, status_code=404)
    return JSONResponse({k: (v.isoformat() if hasattr(v, "isoformat") else str(v) if isinstance(v, UUID) else v)
                         for k, v in dict(row).items()})


@router.get("/queues", summary="Every affiliate team queue: NATS subject and durable consumer")
async def queues(request: Request) -> list[dict]:
    directory = request.app.state.directory
    return [{"affiliate": a, "team": t, "team_name": directory.teams[t], "subject": team_subject(a, t),
             "stream": "VOC_ROUTED", "durable": team_durable(a, t)}
            for a in directory.affiliates for t in directory.teams]
