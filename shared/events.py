"""Every event on the bus, defined once: frozen pydantic v2 models.

The model is the CloudEvents `data` (the JSON body). Its `ce-type` and NATS
subject are class attributes, so publishers cannot disagree about them.
Events are facts, named in the past tense; commands are imperative (see commands.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["app", "web", "chat", "email", "phone", "branch", "partner"]
Kind = Literal["complaint", "suggestion", "inquiry", "praise"]
Topic = Literal[
    "card_loss_theft", "card_payment", "account_transfer", "loan", "insurance", "investment",
    "digital_service", "staff_service", "fraud_phishing", "privacy", "mis_selling",
    "points_benefits", "branch_atm", "other",
]
Urgency = Literal["critical", "high", "normal", "low"]
Flag = Literal["regulator", "media", "legal", "abusive", "vulnerable"]
Affiliate = Literal["bank", "card", "securities", "insurance", "group"]
Sentiment = Literal["negative", "neutral", "positive"]
Team = Literal["general", "consumer_protection", "fraud_response", "special_handling", "suggestions_review"]

CHANNELS: tuple[str, ...] = Channel.__args__  # type: ignore[attr-defined]
AFFILIATES: tuple[str, ...] = Affiliate.__args__  # type: ignore[attr-defined]
TEAMS: tuple[str, ...] = Team.__args__  # type: ignore[attr-defined]
FLAGS: tuple[str, ...] = Flag.__args__  # type: ignore[attr-defined]


class Message(BaseModel):
    """Anything carried on the bus as a CloudEvent: an event or a command."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str]
    SUBJECT: ClassVar[str]

    case_id: UUID

    def subject(self) -> str:
        return self.SUBJECT


class Event(Message):
    """A fact that happened to a case."""


class Command(Message):
    """A request to change a case; its outcome is an event."""


class Consent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cross_affiliate: bool = False
    marketing: bool = False


class Evidence(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    field: Literal["flags", "urgency"]
    label: str = Field(description="the flag, or the urgency level, this span supports")
    rule: str = Field(description="the lexicon rule that matched, for auditing")
    text: str
    start: int
    end: int


class Classification(BaseModel):
    """What the classifier decides for one text (../shared/CLASSIFIER_CONTRACT.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind
    topic: Topic
    urgency: Urgency
    flags: tuple[Flag, ...] = ()
    affiliate: Affiliate
    sentiment: Sentiment
    confidence: dict[str, float]
    evidence: tuple[Evidence, ...] = ()


class VocReceived(Event):
    TYPE: ClassVar[str] = "kr.moksori.voc.received.v1"
    SUBJECT: ClassVar[str] = "voc.received"

    tracking_code: str
    channel: Channel
    text: str = Field(description="PII-masked text; the original stays encrypted in intake")
    kind_hint: Kind | None = None
    affiliate_hint: Affiliate | None = None
    customer_ref: str | None = Field(default=None, description="masked customer reference")
    consent: Consent = Consent()
    received_at: datetime
    first_response_due: datetime


class VocClassified(Event):
    TYPE: ClassVar[str] = "kr.moksori.voc.classified.v1"
    SUBJECT: ClassVar[str] = "voc.classified"

    tracking_code: str
    channel: Channel
    text: str
    affiliate_hint: Affiliate | None = None
    consent: Consent = Consent()
    received_at: datetime
    classification: Classification
    model_version: str


class CaseRouted(Event):
    TYPE: ClassVar[str] = "kr.moksori.case.routed.v1"
    SUBJECT: ClassVar[str] = "voc.routed.{affiliate}.{team}"

    tracking_code: str
    channel: Channel
    affiliate: Affiliate
    team: Team
    copy_reason: tuple[Flag, ...] = Field(default=(), description="set on the group consumer-protection office's copy")
    kind: Kind
    topic: Topic
    urgency: Urgency
    flags: tuple[Flag, ...] = ()
    text: str
    received_at: datetime
    ack_due: datetime | None = None
    resolve_due: datetime | None = None

    def subject(self) -> str:
        return self.SUBJECT.format(affiliate=self.affiliate, team=self.team)


class CaseAcknowledged(Event):
    TYPE: ClassVar[str] = "kr.moksori.case.acknowledged.v1"
    SUBJECT: ClassVar[str] = "voc.case.acknowledged"

    affiliate: Affiliate
    team: Team
    handler_name: str
    handler_contact: str
    acknowledged_at: datetime


class CaseResolved(Event):
    TYPE: ClassVar[str] = "kr.moksori.case.resolved.v1"
    SUBJECT: ClassVar[str] = "voc.case.resolved"

    affiliate: Affiliate
    team: Team
    channel: Channel
    resolution: str
    resolved_at: datetime


class SurveyRequested(Event):
    TYPE: ClassVar[str] = "kr.moksori.feedback.survey_requested.v1"
    SUBJECT: ClassVar[str] = "voc.feedback.survey_requested"

    channel: Channel
    delivery: Literal["app_push", "sms", "email"]
    token: str = Field(description="signed, expiring link token")
    expires_at: datetime


class FeedbackSubmitted(Event):
    TYPE: ClassVar[str] = "kr.moksori.feedback.submitted.v1"
    SUBJECT: ClassVar[str] = "voc.feedback.submitted"

    csat: int | None = Field(default=None, ge=1, le=5)
    nps: int | None = Field(default=None, ge=0, le=10)
    ces: int | None = Field(default=None, ge=1, le=7)
    comment: str | None = None
    submitted_at: datetime


class AlertRaised(Event):
    TYPE: ClassVar[str] = "kr.moksori.alert.raised.v1"
    SUBJECT: ClassVar[str] = "voc.alert.{reason}"

    reason: str  # a flag, "critical", "sla_breach", ...
    severity: Literal["critical", "high", "warning"]
    affiliate: Affiliate | None = None
    message: str
    evidence: tuple[Evidence, ...] = ()

    def subject(self) -> str:
        return self.SUBJECT.format(reason=self.reason)


class AcknowledgeCase(Command):
    TYPE: ClassVar[str] = "kr.moksori.cmd.acknowledge_case.v1"
    SUBJECT: ClassVar[str] = "voc.cmd.case.acknowledge"

    handler_name: str = Field(min_length=1, max_length=100)
    handler_contact: str = Field(min_length=1, max_length=100)


class ResolveCase(Command):
    TYPE: ClassVar[str] = "kr.moksori.cmd.resolve_case.v1"
    SUBJECT: ClassVar[str] = "voc.cmd.case.resolve"

    resolution: str = Field(min_length=1, max_length=5000)


class SubmitFeedback(Command):
    TYPE: ClassVar[str] = "kr.moksori.cmd.submit_feedback.v1"
    SUBJECT: ClassVar[str] = "voc.cmd.feedback.submit"

    token: str = Field(min_length=1, max_length=500)
    csat: int | None = Field(default=None, ge=1, le=5)
    nps: int | None = Field(default=None, ge=0, le=10)
    ces: int | None = Field(default=None, ge=1, le=7)
    comment: str | None = Field(default=None, max_length=2000)


ALL_EVENTS: tuple[type[Event], ...] = (
    VocReceived, VocClassified, CaseRouted, CaseAcknowledged, CaseResolved,
    SurveyRequested, FeedbackSubmitted, AlertRaised,
)
ALL_COMMANDS: tuple[type[Command], ...] = (AcknowledgeCase, ResolveCase, SubmitFeedback)
BY_TYPE: dict[str, type[Message]] = {m.TYPE: m for m in (*ALL_EVENTS, *ALL_COMMANDS)}
