from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from shared.events import Affiliate, Channel, Classification, Text

router = APIRouter(prefix="/v1", tags=["classify"])


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text = Field(min_length=1, max_length=20_000)
    channel: Channel | None = None
    affiliate_hint: Affiliate | None = None


@router.post("/classify", summary="Classify one text (no case is created)")
async def classify(body: ClassifyRequest, request: Request) -> Classification:
    return request.app.state.classifier.classify(body.text, channel=body.channel, affiliate_hint=body.affiliate_hint)
