"""Survey links land here: the customer rates the resolved case, or the consultation."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.feedback.domain.survey import Answer, TokenError, token_expiry, verify_any
from services.feedback.handlers.responses import (NoSurvey, prepare_response, record_consultation_response,
                                                  record_response)
from shared.bizcal import KST
from shared.events import SubmitFeedback, Text
from shared.runtime import runtime_of

router = APIRouter(prefix="/v1", tags=["feedback"])


class RatingBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    token: Text = Field(min_length=1, max_length=500, description="from the SurveyRequested link")
    csat: int | None = Field(None, strict=True, ge=1, le=5, description="satisfaction 1-5")
    nps: int | None = Field(None, strict=True, ge=0, le=10, description="likelihood to recommend 0-10")
    ces: int | None = Field(None, strict=True, ge=1, le=7, description="effort 1-7")
    comment: Text | None = Field(None, max_length=2000)


_ANSWERED = {"application/json": {"schema": {"type": "object", "properties": {
    "status": {"type": "string", "enum": ["recorded", "repeated"]},
    "case_id": {"type": "string", "format": "uuid", "description": "a case's survey"},
    "consultation_id": {"type": "string", "format": "uuid", "description": "a consultation's survey"}}}}}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


@router.post("/feedback", summary="Answer a survey (CSAT, NPS, CES and a comment)", status_code=201, responses={
    201: {"description": "recorded", "content": _ANSWERED},
    200: {"description": "the same answer again: nothing changes", "content": _ANSWERED},
    400: {"description": "the survey token is malformed, forged or expired", "content": _ERROR},
    404: {"description": "no survey for this token's case or consultation", "content": _ERROR},
    409: {"description": "this case or consultation already has a different answer", "content": _ERROR}})
async def submit(body: RatingBody, request: Request) -> JSONResponse:
    rt = runtime_of(request)
    secret = request.app.state.survey_secret
    try:
        now = datetime.now(UTC)
        surveyed = verify_any(secret, body.token, now)
        if surveyed.kind == "consultation":
            return await _consultation_answer(request, surveyed.id, body, now)
        cmd = SubmitFeedback(case_id=surveyed.id, **body.model_dump())
        answer = prepare_response(rt.outbox, secret, cmd, request.app.state.classify, now)
        case_id = answer.case_id
        if await request.app.state.answers.record(answer):  # committed together with its neighbours
            outcome = "recorded"
        else:
            async with rt.pool.acquire() as conn:  # record_response makes its own atomic units
                outcome = await record_response(conn, rt.outbox, secret, cmd, prepared=answer)
    except TokenError as exc:
        return JSONResponse({"error": str(exc), "details": [{"field": "token", "error": str(exc)}]},
                            status_code=400)
    except NoSurvey as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)
    except ValueError as exc:
        return JSONResponse({"error": str(exc), "details": [{"field": "csat", "error": str(exc)}]},
                            status_code=422)
    if outcome == "conflict":
        return JSONResponse({"error": "this case already has a different response"}, status_code=409)
    rt.wake_relay()
    return JSONResponse({"status": outcome, "case_id": str(case_id)},
                        status_code=201 if outcome == "recorded" else 200)


async def _consultation_answer(request: Request, consultation_id: UUID, body: RatingBody,
                               now: datetime) -> JSONResponse:
    """One answer on its own (consultations are few beside cases: no group commit, and no event but a poor
    rating's alert)."""
    answer = Answer(body.csat, body.nps, body.ces, body.comment)
    rt = runtime_of(request)
    async with rt.pool.acquire() as conn:
        outcome = await record_consultation_response(conn, rt.outbox, consultation_id, answer,
                                                     request.app.state.classify, now)
    if outcome == "recorded":
        rt.wake_relay()  # a poor rating's alert
    if outcome == "conflict":
        return JSONResponse({"error": "this consultation already has a different response"}, status_code=409)
    return JSONResponse({"status": outcome, "consultation_id": str(consultation_id)},
                        status_code=201 if outcome == "recorded" else 200)


page = APIRouter(tags=["feedback"])
SURVEY_PAGE = Path(__file__).resolve().parent.parent / "static" / "survey.html"


def _scale(name: str, low: int, high: int) -> str:
    return '<div class="scale">' + "".join(
        f'<label><input type="radio" name="{name}" value="{i}">{i}</label>' for i in range(low, high + 1)) + "</div>"


def _problem(title: str, detail: str, status: int) -> HTMLResponse:
    return HTMLResponse(f'<!doctype html><html lang="ko"><meta charset="utf-8"><title>{title}</title>'
                        f'<link rel="stylesheet" href="/static/survey.css"><main><h1>{title}</h1>'
                        f'<p>{html.escape(detail)}</p></main></html>', status_code=status)


@page.get("/s/{token}", response_class=HTMLResponse, summary="The survey page a SurveyRequested link opens",
          responses={400: {"description": "a page saying the link is broken or expired",
                           "content": {"text/html": {"schema": {"type": "string"}}}}})
async def survey_page(token: str, request: Request) -> HTMLResponse:
    try:
        surveyed = verify_any(request.app.state.survey_secret, token, datetime.now(UTC))
    except TokenError as exc:
        return _problem("설문 링크를 열 수 없습니다", f"링크가 만료되었거나 올바르지 않습니다 ({exc}).", 400)
    expires = token_expiry(token).astimezone(KST)
    lead, question = PAGE_WORDS[surveyed.kind]
    return HTMLResponse(SURVEY_PAGE.read_text(encoding="utf-8").format(
        token=html.escape(token, quote=True), csat=_scale("csat", 1, 5), nps=_scale("nps", 0, 10),
        ces=_scale("ces", 1, 7), expires=f"{expires:%Y년 %m월 %d일 %H:%M}", lead=lead, question=question))


# the page's opening and its CSAT question, for a resolved case and for a consultation
PAGE_WORDS = {"case": ("접수하신 건이 처리되었습니다.", "처리 결과에 얼마나 만족하십니까?"),
              "consultation": ("상담을 이용해 주셔서 감사합니다.", "이번 상담에 얼마나 만족하십니까?")}
