"""A consultation that was not a case is reported as ended by the affiliate's consulting system, which
gets the survey link to give the customer (seed 002: every consultation can be rated)."""

from __future__ import annotations

import re

from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from services.feedback.adapters import repository as repo
from services.feedback.domain.survey import consultation_id, delivery_for, expiry, issue_token
from shared.events import Affiliate, Channel, SurveyDelivery, Topic
from shared.pii import mask_text
from shared.runtime import runtime_of
from shared.team_keys import key_digest

router = APIRouter(prefix="/v1", tags=["consultations"])
CLOCK_SKEW = timedelta(minutes=5)  # an end this far ahead of our clock is taken as the consulting system's


def affiliate_of(request: Request, x_api_key: Annotated[str | None, Header(
        description="the affiliate's consulting-system key (CONSULTATION_KEYS)")] = None) -> str:
    keys: dict[str, str] | None = request.app.state.consultation_keys
    if keys is None:
        raise HTTPException(401, "consultations are not surveyed here: CONSULTATION_KEYS is not set")
    affiliate = keys.get(key_digest(x_api_key)) if x_api_key else None
    if affiliate is None:
        raise HTTPException(401, "an affiliate's consulting-system key is required (X-Api-Key)")
    return affiliate


# a mobile number, or a resident registration number (a real date of birth: a 13-digit millisecond timestamp
# is an id's own), inside an id
PERSONAL_IN_ID = re.compile(r"(?<!\d)(?:01[016789][-.]?\d{3,4}[-.]?\d{4}"
                            r"|\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])-?[1-8]\d{6})(?!\d)")


class ConsultationEnded(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    consultation_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$", description=(
        "the consulting system's own id (a call id, a chat session id): reporting it again returns the same "
        "survey"), examples=["CC-CARD-20261124-004512"])
    channel: Channel = Field(description="where the consultation took place")
    ended_at: AwareDatetime = Field(examples=["2026-11-24T14:32:05+09:00"])
    topic: Topic | None = Field(None, description="the agent's wrap-up code, kept with the consultation's survey")
    vulnerable: bool = Field(False, description=(
        "the agent noted a digitally vulnerable customer (elderly, disabled, a language barrier): the rating is "
        "asked by an agent's call (해피콜), delivery `phone_call`"))

    @field_validator("consultation_id")
    @classmethod
    def _not_personal(cls, v: str) -> str:
        """Refused: an id of digits and separators only that reads as a phone, card, account or resident
        registration number, and an id with a mobile phone or resident registration number inside it
        (CC-01012345678, which a call centre may build from the caller's number). Moksori keeps no customer
        identity for a consultation, and the uuid5 it keys one by is no secret over the few numbers there are.
        Other digits inside an id (a branch code and a date: BR-0412-20261124-031) are the system's own."""
        if (not any(c.isalpha() for c in v) and mask_text(v) != v) or PERSONAL_IN_ID.search(v):
            raise ValueError("must be the consulting system's own id, not a phone, card, account or resident "
                             "registration number")
        return v


class ConsultationSurvey(BaseModel):
    consultation_id: UUID = Field(description="Moksori's id for the consultation")
    ref: str = Field(description="the consulting system's id, as reported")
    affiliate: Affiliate
    delivery: SurveyDelivery = Field(description="how to ask the customer: show or send the link, or call")
    token: str = Field(description="signed, expiring; answers go to POST /v1/feedback with it")
    link: str = Field(description="the survey page for the customer (SURVEY_BASE_URL/<token>)")
    expires_at: datetime


_SURVEY = {"application/json": {"schema": {"$ref": "#/components/schemas/ConsultationSurvey"}}}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


def _bad_end(error: str) -> JSONResponse:
    return JSONResponse({"error": f"ended_at: {error}", "details": [{"field": "ended_at", "error": error}]},
                        status_code=422)


@router.post("/consultations", summary="Report a consultation that ended, for its survey link", status_code=201,
             response_model=ConsultationSurvey, responses={
                 200: {"description": "reported before: the same survey", "content": _SURVEY},
                 401: {"description": "no consulting-system key, or not one of CONSULTATION_KEYS",
                       "content": _ERROR},
                 409: {"description": "this consultation was reported before with other details",
                       "content": _ERROR},
                 410: {"description": "reported before, and its survey has expired", "content": _ERROR},
                 422: {"description": "a field is missing or wrong (an end in the future, or longer ago than the "
                                      "survey's SURVEY_TTL_DAYS)", "content": _ERROR}})
async def consultation_ended(body: ConsultationEnded, request: Request,
                             affiliate: Annotated[str, Depends(affiliate_of)]) -> JSONResponse:
    now = datetime.now(UTC)
    ttl = request.app.state.survey_ttl
    if body.ended_at > now + CLOCK_SKEW:
        return _bad_end(f"{body.ended_at.isoformat()} is after now ({now.isoformat()})")
    if body.ended_at < now - timedelta(days=ttl):  # nobody remembers it to rate it; the report's day has gone
        return _bad_end(f"{body.ended_at.isoformat()} is more than {ttl} days ago (SURVEY_TTL_DAYS): too late to ask")
    cid = consultation_id(affiliate, body.consultation_id)
    delivery = delivery_for(body.channel, ("vulnerable",) if body.vulnerable else ())
    async with runtime_of(request).pool.acquire() as conn:
        new = await conn.fetchval(repo.INSERT_CONSULTATION, cid, affiliate, body.channel, body.topic, delivery,
                                  body.ended_at, now, expiry(now, ttl), body.consultation_id)
        row = await conn.fetchrow(repo.CONSULTATION, cid)
    if new is None and (row["channel"], row["topic"], row["delivery"], row["ended_at"]) != (
            body.channel, body.topic, delivery, body.ended_at):
        return JSONResponse({"error": f"consultation {body.consultation_id} was reported before with other details "
                                      f"({row['channel']}, ended {row['ended_at'].isoformat()})"}, status_code=409)
    if row["expires_at"] <= now:
        return JSONResponse({"error": f"consultation {body.consultation_id}'s survey expired at "
                                      f"{row['expires_at'].isoformat()}"}, status_code=410)
    token = issue_token(request.app.state.survey_secret, cid, row["expires_at"], consultation=True)
    survey = ConsultationSurvey(consultation_id=cid, ref=body.consultation_id, affiliate=affiliate,  # type: ignore
                                delivery=row["delivery"], token=token,
                                link=f"{request.app.state.survey_base_url}/{token}", expires_at=row["expires_at"])
    return JSONResponse(survey.model_dump(mode="json"), status_code=201 if new else 200)
