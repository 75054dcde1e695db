"""Survey links land here: the customer rates the resolved case."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.feedback.domain.survey import TokenError, verify_token
from services.feedback.handlers.responses import NoSurvey, record_response
from shared.events import SubmitFeedback, Text
from shared.runtime import runtime_of

router = APIRouter(prefix="/v1", tags=["feedback"])


class RatingBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    token: Text = Field(min_length=1, max_length=500, description="from the SurveyRequested link")
    csat: int | None = Field(None, ge=1, le=5, description="satisfaction 1-5")
    nps: int | None = Field(None, ge=0, le=10, description="likelihood to recommend 0-10")
    ces: int | None = Field(None, ge=1, le=7, description="effort 1-7")
    comment: Text | None = Field(None, max_length=2000)


@router.post("/feedback", summary="Answer a survey (CSAT, NPS, CES and a comment)")
async def submit(body: RatingBody, request: Request) -> JSONResponse:
    rt = runtime_of(request)
    secret = request.app.state.survey_secret
    try:
        case_id = verify_token(secret, body.token, datetime.now(UTC))
        cmd = SubmitFeedback(case_id=case_id, **body.model_dump())
        async with rt.pool.acquire() as conn, conn.transaction():
            outcome = await record_response(conn, rt.outbox, secret, cmd, request.app.state.classify)
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
