"""Every event on the bus, defined once: frozen pydantic v2 models.

The model is the CloudEvents `data` (the JSON body). Its `ce-type` and NATS
subject are class attributes, so publishers cannot disagree about them.
Events are facts, named in the past tense; commands are imperative (see commands.py).
"""

from __future__ import annotations

from datetime import datetime
import re
import unicodedata
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
# Invisible format characters a number or a watch word can hide behind (010\u200b1234\u200b5678 escaped
# masking, 금\u200b감원 the rules): soft hyphen, zero-width space and non-joiner, word joiner and invisible
# operators, bidirectional marks, embeddings, overrides and isolates, BOM. A zero-width joiner is kept
# between symbols, where it joins emoji (👩, U+200D, 💻), and dropped next to a letter or a digit.
_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
                        "|(?<=\\w)\u200d|\u200d(?=\\w)")
# letters and digits typed in full width (the IME's 전각 mode: ＦＳＳ, ０１０) or in mathematical styles (𝐅𝐒𝐒, 𝟎𝟏𝟎)
_WIDE = re.compile("[\uff01-\uff5e\U0001d400-\U0001d7ff]+")
# any character either of them may change, as one class: a cheap test that most texts pass untouched
_ODD = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
                  "\uff01-\uff5e\U0001d400-\U0001d7ff]")


def as_read(v: str) -> str:
    """Text as it reads, in one form: invisible format characters dropped, full-width and styled
    letters and digits as plain ones, Hangul composed (NFC: a Mac's decomposed 금감원 is the same
    three syllables), so masking and the classifier's rules see what a reader sees. ValueError for
    what UTF-8 and PostgreSQL cannot keep: NUL, other C0 controls but tab and newlines, unpaired
    surrogates."""
    m = _UNSTORABLE.search(v)
    if m:
        raise ValueError(f"contains the unusable character U+{ord(m.group()):04X} at position {m.start()}")
    if v.isascii():
        return v
    readable = v
    if _ODD.search(v):  # one pass for most texts, which have neither
        readable = _INVISIBLE.sub("", readable)
        readable = _WIDE.sub(lambda w: unicodedata.normalize("NFKC", w.group()), readable)
    if not unicodedata.is_normalized("NFC", readable):
        readable = unicodedata.normalize("NFC", readable)
    return readable


def _storable(v: str) -> str:
    """Text as it reads (`as_read`); one that had characters and has no visible one left is refused."""
    readable = as_read(v)
    if readable != v and not readable.strip():
        raise ValueError("has no visible characters")
    return readable


Text = Annotated[str, AfterValidator(_storable)]
# an employee number (사번): branch staff who enter a VOC, team staff who act on or read a case
STAFF_ID_PATTERN = r"^[A-Za-z0-9._-]{1,50}$"
STAFF_ID_RULE = "1-50 letters, digits, '.', '_' or '-'"
StaffId = Annotated[str, Field(max_length=50, pattern=STAFF_ID_PATTERN)]
_STAFF_ID = re.compile(STAFF_ID_PATTERN)


def is_staff_id(v: str) -> bool:
    """What StaffId accepts, for an edge that is not a model (an HTTP header, a CLI option)."""
    return _STAFF_ID.fullmatch(v) is not None

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
Origin = Literal["direct", "fss_transfer"]  # 자체민원 / 대외민원
# what a suggestion is about, as the group's suggestion programme sorts them (the review decides it)
SuggestionCategory = Literal["product", "process", "new_business"]
SUGGESTION_CATEGORY_KO: dict[str, str] = {"product": "상품·서비스 개선", "process": "제도·프로세스 개선",
                                          "new_business": "신규사업"}
SUGGESTION_CATEGORIES: tuple[str, ...] = SuggestionCategory.__args__  # type: ignore[attr-defined]
_CATEGORY_LABELS = ", ".join(f"{c} ({ko})" for c, ko in SUGGESTION_CATEGORY_KO.items())
SUGGESTION_CATEGORY_DOC = (f"what the suggestion is about: {_CATEGORY_LABELS}; the consumer-protection office's "
                           "report counts adoptions by it")
CUSTOMER_CATEGORY_DOC = (f"the category the customer chose in the 고객 제안 menu: {_CATEGORY_LABELS}; the review "
                         "keeps it unless it names another (SuggestionReviewed.category)")
Team = Literal["general", "consumer_protection", "fraud_response", "special_handling", "suggestions_review"]

CHANNELS: tuple[str, ...] = Channel.__args__  # type: ignore[attr-defined]
AFFILIATES: tuple[str, ...] = Affiliate.__args__  # type: ignore[attr-defined]
TEAMS: tuple[str, ...] = Team.__args__  # type: ignore[attr-defined]
FLAGS: tuple[str, ...] = Flag.__args__  # type: ignore[attr-defined]


class Message(BaseModel):
    """Anything carried on the bus as a CloudEvent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str]
    SUBJECT: ClassVar[str]
    # read by a newer version's tolerant reader, ignoring fields it does not know (cloudevents.decode):
    # the services' own events; commands and outside systems' messages stay strict
    TOLERANT: ClassVar[bool] = False

    def subject(self) -> str:
        return self.SUBJECT


class Event(Message):
    """A fact that happened to a case."""

    TOLERANT: ClassVar[bool] = True

    case_id: UUID


class Command(Message):
    """A request to change a case; its outcome is an event."""

    case_id: UUID


class CaseCommand(Command):
    """A step of a case's lifecycle, taken by an affiliate team (or by a service, such as feedback
    reopening a case after a poor rating). A team's command names the employee who takes it."""

    staff_id: StaffId | None = Field(None, description=(
        "the employee (사번) who takes the step: required from affiliate teams (over HTTP it is the "
        "X-Staff-Id header) and kept with the step in the case's audit log, not sent on with its event"))

    @model_serializer(mode="wrap")
    def _no_empty_staff(self, handler):
        """A service's own command (no employee) is written without `staff_id`, so a routing from before
        the field, which reads commands strictly, still takes it during a rolling upgrade."""
        data = handler(self)
        if self.staff_id is None:
            data.pop("staff_id", None)
        return data


class Consent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cross_affiliate: bool = False
    marketing: bool = False


class Turn(BaseModel):
    """One speaker turn of a chat or a call transcript."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    speaker: Literal["customer", "agent", "bot"]
    text: Text = Field(min_length=1, max_length=5000)
    at: datetime | None = None


class Attachment(BaseModel):
    """Metadata only: attachments themselves never travel on the bus."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    filename: Text = Field(max_length=255)
    content_type: Text = Field(max_length=255)
    size: int = Field(ge=0)


class Evidence(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    field: Literal["flags", "urgency"]
    label: str = Field(description="the flag, or the urgency level, this span supports")
    rule: str = Field(description="the lexicon rule that matched, for auditing")
    text: str
    start: int
    end: int


MAX_TEXT_CHARS = 20_000


class VocSubmission(BaseModel):
    """What a channel submits: the body of POST /v1/voc, and the data of a partner's
    VocSubmitted CloudEvent. Intake masks and encrypts it; it never travels as is."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    channel: Channel
    text: Text = Field(min_length=1, max_length=MAX_TEXT_CHARS,
                      description="the customer's words; for chat their last request, for phone the call summary")
    kind: Kind | None = Field(None, description="the channel's hint; the classifier decides")
    affiliate: Affiliate | None = Field(None, description="the app or site it came from")
    customer: Text | None = Field(None, max_length=200, description="customer reference; masked on the bus")
    channel_message_id: Text | None = Field(None, max_length=200)
    consent: Consent = Consent()
    occurred_at: datetime | None = None
    title: Text | None = Field(None, max_length=500, description="e-mail subject or web form title")
    transcript: tuple[Turn, ...] = Field((), max_length=2000, description="chat or call turns in order")
    staff_id: StaffId | None = Field(None, description="branch staff id; required for the branch channel")
    attachments: tuple[Attachment, ...] = Field((), max_length=50)
    origin: Origin = Field("direct", description="fss_transfer for 대외민원 transferred from the FSS")
    product: Text | None = Field(None, max_length=100, pattern=r"^[a-z0-9_.-]+$",
                                 description="product code the VOC is about, e.g. card.credit or bank.savings")
    suggestion_category: SuggestionCategory | None = Field(None, description=CUSTOMER_CATEGORY_DOC)

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("must include a time zone, for example 2026-11-20T10:15:00+09:00")
        if v is not None and not 2000 <= v.year <= 2100:  # year 1 cannot even be written as a UTC time
            raise ValueError(f"must be a date between the years 2000 and 2100, not {v.year}")
        return v

    @model_validator(mode="after")
    def _per_channel(self) -> "VocSubmission":
        if self.channel == "branch" and not self.staff_id:
            raise ValueError("staff_id is required for the branch channel")
        if self.channel == "chat" and not self.transcript:
            raise ValueError("transcript is required for the chat channel (the conversation before escalation)")
        if self.suggestion_category is not None and self.kind not in (None, "suggestion"):
            raise ValueError(f"suggestion_category is for suggestions: leave it out, or send kind 'suggestion' "
                             f"(not {self.kind!r})")
        return self


PARTNER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


# sources whose keys intake or the consumers write without a partner's name in front: a partner called
# so would share their key space (bulk import's import:<hash>, the services' moksori/<service> ids)
RESERVED_PARTNERS = frozenset({"import", "moksori", "nats", "http", "replay", "dlq"})


def partner_subject(partner: str) -> str:
    """Where partner channel system `partner` publishes its VOCs (its NATS user may publish only there)."""
    if not PARTNER_NAME.fullmatch(partner):
        raise ValueError(f"partner name {partner!r}: use 1-40 lower-case letters, digits and '-', "
                         f"starting with a letter or digit")
    if partner in RESERVED_PARTNERS:
        raise ValueError(f"partner name {partner!r} is reserved; reserved: {sorted(RESERVED_PARTNERS)}")
    return VocSubmitted.SUBJECT.format(partner=partner)


def partner_of(subject: str, source: str) -> str:
    """The partner whose own subject a VocSubmitted came on; its `ce-source` must be that partner's
    name, or start with it and '/' ("card-pg" or "card-pg/voc"). ValueError otherwise: a partner
    passing as another, whose event ids it would otherwise use up."""
    prefix, _, partner = subject.rpartition(".")
    if prefix != VocSubmitted.SUBJECT.rpartition(".")[0] or not PARTNER_NAME.fullmatch(partner) \
            or partner in RESERVED_PARTNERS:
        raise ValueError(f"subject {subject!r} is not a partner's ({VocSubmitted.SUBJECT})")
    if source != partner and not source.startswith(partner + "/"):
        raise ValueError(f"ce-source {source!r} is not partner {partner!r}'s (published on {subject}): "
                         f"it must be {partner!r} or start with '{partner}/'")
    return partner


class VocSubmitted(VocSubmission, Message):
    """A channel system's VOC, published on NATS instead of POSTed, on the partner's own subject
    (`partner_subject`), with a `ce-source` of the partner's name (`partner_of`)."""

    TYPE: ClassVar[str] = "kr.moksori.ingress.voc_submitted.v1"
    SUBJECT: ClassVar[str] = "voc.ingress.voc.{partner}"

    def subject(self) -> str:
        raise TypeError("a VocSubmitted goes on its partner's own subject: partner_subject(name)")


CALL_NAMESPACE = UUID("6f0d9a4e-5d1b-4c61-9d0e-6b6f6b736f72")


def case_id_for_call(call_id: str) -> UUID:
    """A live call's future case id, known while the call is still going on."""
    import uuid

    return uuid.uuid5(CALL_NAMESPACE, call_id)


def live_alert_id(call_id: str, reason: str) -> str:
    """The id of a live call's alert for `reason`: a call raises at most one per reason, so a
    retried screening publishes it again under the same id, which JetStream drops."""
    import uuid

    return str(uuid.uuid5(CALL_NAMESPACE, f"{call_id}#alert:{reason}"))


MAX_SEQ = 2**31 - 1  # a segment's seq is stored as a PostgreSQL integer


class SttSegment(Message):
    """One live speech-to-text segment, published by the call-centre STT system."""

    TYPE: ClassVar[str] = "kr.moksori.ingress.stt_segment.v1"
    SUBJECT: ClassVar[str] = "voc.ingress.call.segment"

    call_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")
    seq: int = Field(ge=0, le=MAX_SEQ)
    speaker: Literal["customer", "agent"]
    text: Text = Field(min_length=1, max_length=5000)
    ts: datetime
    affiliate: Affiliate | None = Field(default=None, description="whose call centre took the call")


class CallEnded(Message):
    """The call is over; the agent's wrap-up says what it was."""

    TYPE: ClassVar[str] = "kr.moksori.ingress.call_ended.v1"
    SUBJECT: ClassVar[str] = "voc.ingress.call.ended"

    call_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")
    ended_at: datetime
    outcome: Literal["complaint", "suggestion", "inquiry", "praise", "none"] = "none"
    affiliate: Affiliate | None = None
    customer: Text | None = Field(None, max_length=200)
    summary: Text | None = Field(None, max_length=MAX_TEXT_CHARS, description="the agent's call summary")


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
    repeat_count: int = Field(0, ge=0, description="earlier cases of the same customer and topic in the window")
    rules: tuple[str, ...] = Field((), description="the lexicon rules that matched, for audit")
    notes: tuple[str, ...] = Field((), description="why confidence is low, e.g. empty or non-Korean text")


BACKFILL = ("history being filed: a VOC another system received earlier, brought in by a bulk import after its "
            "answer date had passed. It is classified, routed and counted on the day it was received, but raises no "
            "alerts or action requests, and no SLA warnings or breaches for deadlines already past when it is routed")


class VocReceived(Event):
    TYPE: ClassVar[str] = "kr.moksori.voc.received.v1"
    SUBJECT: ClassVar[str] = "voc.received"

    tracking_code: str
    channel: Channel
    text: str = Field(description="PII-masked text; the original stays encrypted in intake")
    kind_hint: Kind | None = None
    affiliate_hint: Affiliate | None = None
    customer_ref: str | None = Field(default=None, description="masked customer reference")
    customer_key: str | None = Field(default=None, description="keyed pseudonym of the customer reference "
                                                               "(HMAC), for finding repeat complaints")
    consent: Consent = Consent()
    received_at: datetime
    first_response_due: datetime
    title: str | None = Field(default=None, description="e-mail subject or form title, masked")
    transcript: tuple[Turn, ...] = Field(default=(), description="chat or call turns, masked")
    staff_id: str | None = Field(default=None, description="branch staff who entered the VOC")
    attachments: tuple[Attachment, ...] = ()
    origin: Origin = "direct"
    product: str | None = None
    backfill: bool = Field(default=False, description=BACKFILL)
    suggestion_category: SuggestionCategory | None = Field(default=None, description=CUSTOMER_CATEGORY_DOC)

    def classification_text(self) -> str:
        """What the classifier reads: the subject, the text, and the customer's own turns."""
        parts = [self.title or "", self.text, *(t.text for t in self.transcript if t.speaker == "customer")]
        return "\n".join(p for p in parts if p)


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
    origin: Origin = "direct"
    product: str | None = None
    backfill: bool = Field(default=False, description=BACKFILL)
    customer_ref: str | None = Field(default=None, description="masked; routing drops it across affiliates "
                                                                "without the customer's consent")
    suggestion_category: SuggestionCategory | None = Field(default=None, description=CUSTOMER_CATEGORY_DOC)


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
    origin: Origin = "direct"
    repeat: bool = Field(default=False, description="a repeated complaint: on record (see duplicate), or in the "
                                                    "customer's own words (\"세 번째 전화인데\")")
    duplicate: bool | None = Field(default=None, description="a repeat on record: the same customer's complaint on "
                                                              "the same topic within the repeat window; counted once "
                                                              "in 환산건수 (absent from older producers: unknown)")
    customer_ref: str | None = Field(default=None, description="present only within the receiving affiliate "
                                                                "or with cross-affiliate consent")
    suggestion_category: SuggestionCategory | None = Field(default=None, description=CUSTOMER_CATEGORY_DOC)
    handoff: Literal["transferred", "reopened"] | None = Field(
        default=None, description="set when the case comes to this queue after its first routing: transferred "
                                  "from another team (see handoff_reason; the SLA carries over, no new "
                                  "acknowledgement deadline) or reopened; not a new case, and not counted as one")
    handoff_reason: str | None = Field(default=None, description="why it was transferred or reopened")

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


Outcome = Literal["accepted", "partially_accepted", "rejected", "answered"]
# what the customer is told of a resolution's outcome (수용 / 일부수용 / 불수용, or an inquiry answered)
OUTCOME_KO: dict[str, str] = {"accepted": "수용", "partially_accepted": "일부 수용", "rejected": "불수용",
                              "answered": "답변 완료"}


class CaseResolved(Event):
    TYPE: ClassVar[str] = "kr.moksori.case.resolved.v1"
    SUBJECT: ClassVar[str] = "voc.case.resolved"

    affiliate: Affiliate
    team: Team
    channel: Channel
    resolution: str
    resolved_at: datetime
    outcome: Outcome = "answered"
    within_sla: bool | None = None
    flags: tuple[Flag, ...] = Field((), description=(
        "the case's flags as routed; `vulnerable`: feedback asks for the rating by an agent's call"))
    tracking_code: str | None = Field(None, description=(
        "the case's 접수번호, for the survey notice (CustomerNoticeRequested `survey`); a routing from before "
        "session 24 leaves it out, and its cases are surveyed without a notice"))


class CaseInfoRequested(Event):
    """Waiting for the customer's documents: the SLA clock is paused."""

    TYPE: ClassVar[str] = "kr.moksori.case.info_requested.v1"
    SUBJECT: ClassVar[str] = "voc.case.info_requested"

    affiliate: Affiliate
    team: Team
    what: str
    paused_at: datetime


class CaseInfoProvided(Event):
    """The documents arrived: the clock runs again, the deadline moved by the pause."""

    TYPE: ClassVar[str] = "kr.moksori.case.info_provided.v1"
    SUBJECT: ClassVar[str] = "voc.case.info_provided"

    affiliate: Affiliate
    team: Team
    resumed_at: datetime
    resolve_due: datetime
    note: Text | None = Field(None, max_length=1000, description=(
        "the team's note on what arrived (ProvideInfo.note), masked; shown on the customer's timeline"))


class CaseExtended(Event):
    TYPE: ClassVar[str] = "kr.moksori.case.extended.v1"
    SUBJECT: ClassVar[str] = "voc.case.extended"

    affiliate: Affiliate
    team: Team
    reason: str
    business_days: int
    resolve_due: datetime


class CaseTransferred(Event):
    TYPE: ClassVar[str] = "kr.moksori.case.transferred.v1"
    SUBJECT: ClassVar[str] = "voc.case.transferred"

    from_affiliate: Affiliate
    from_team: Team
    affiliate: Affiliate
    team: Team
    reason: str
    by: str
    resolve_due: datetime


class CaseReopened(Event):
    TYPE: ClassVar[str] = "kr.moksori.case.reopened.v1"
    SUBJECT: ClassVar[str] = "voc.case.reopened"

    affiliate: Affiliate
    team: Team
    reason: str
    resolve_due: datetime | None = Field(None, description="the reopened case's fresh resolution deadline")


class CaseReclassified(Event):
    """An affiliate team corrected the classifier; kept for retraining."""

    TYPE: ClassVar[str] = "kr.moksori.case.reclassified.v1"
    SUBJECT: ClassVar[str] = "voc.case.reclassified"

    affiliate: Affiliate
    team: Team
    kind: Kind
    topic: Topic
    previous_kind: Kind
    previous_topic: Topic
    by: str


class SuggestionReviewed(Event):
    TYPE: ClassVar[str] = "kr.moksori.case.suggestion_reviewed.v1"
    SUBJECT: ClassVar[str] = "voc.case.suggestion_reviewed"

    affiliate: Affiliate
    team: Team
    outcome: Literal["adopted", "rejected"]
    reason: str
    tracking_code: str | None = None
    channel: Channel | None = None
    category: SuggestionCategory | None = Field(None, description="what the suggestion is about, as the review "
                                                                  "sorted it (None: not sorted)")
    reviewed_at: datetime | None = None


class CaseEscalated(Event):
    """An SLA breach: the case goes to the team's supervisor."""

    TYPE: ClassVar[str] = "kr.moksori.case.escalated.v1"
    SUBJECT: ClassVar[str] = "voc.escalation.{affiliate}.{team}"

    affiliate: Affiliate
    team: Team
    tracking_code: str
    deadline: Literal["acknowledge", "resolve"]
    due: datetime

    def subject(self) -> str:
        return self.SUBJECT.format(affiliate=self.affiliate, team=self.team)


SurveyDelivery = Literal["app_push", "sms", "email", "phone_call"]


class SurveyRequested(Event):
    TYPE: ClassVar[str] = "kr.moksori.feedback.survey_requested.v1"
    SUBJECT: ClassVar[str] = "voc.feedback.survey_requested"

    channel: Channel
    delivery: SurveyDelivery = Field(description=(
        "how the customer is asked. phone_call: the customer is digitally vulnerable (elderly, disabled, ...), "
        "so an agent calls (해피콜), asks the questions and enters the answers with the token"))
    token: str = Field(description="signed, expiring link token")
    link: str | None = Field(default=None, description="the survey page for the customer: SURVEY_BASE_URL/<token>")
    expires_at: datetime


class FeedbackSubmitted(Event):
    TYPE: ClassVar[str] = "kr.moksori.feedback.submitted.v1"
    SUBJECT: ClassVar[str] = "voc.feedback.submitted"

    csat: int | None = Field(default=None, strict=True, ge=1, le=5)
    nps: int | None = Field(default=None, strict=True, ge=0, le=10)
    ces: int | None = Field(default=None, strict=True, ge=1, le=7)
    comment: str | None = None
    submitted_at: datetime


class CallSegment(BaseModel):
    """One masked live segment inside CallSegmentsReceived; `case_id` is the case the call will become."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case_id: UUID
    call_id: str
    seq: int = Field(ge=0, le=MAX_SEQ)
    speaker: Literal["customer", "agent"]
    text: str
    ts: datetime
    affiliate: Affiliate | None = None


class CallSegmentReceived(CallSegment, Event):
    """A live segment, masked, forwarded at once for screening. `case_id` is the
    case the call will become (see case_id_for_call). Intakes before session 21 sent one per
    segment; intake now sends CallSegmentsReceived, and screening still reads this during an upgrade."""

    TYPE: ClassVar[str] = "kr.moksori.call.segment_received.v1"
    SUBJECT: ClassVar[str] = "voc.call.segment"


class CallSegmentsReceived(Message):
    """The live segments of one fetched batch, masked, forwarded at once for screening.

    One message for many segments, of many calls, so that at 2,000 segments a second the bus carries a
    few dozen messages a second on this hop, not 2,000. The id is derived from the (call, seq) pairs it
    holds (`segments_event_id`); screening is idempotent per call and seq, so a segment that comes again
    in another batch (a redelivery that fetched differently) changes nothing."""

    TYPE: ClassVar[str] = "kr.moksori.call.segments_received.v1"
    SUBJECT: ClassVar[str] = "voc.call.segments"
    TOLERANT: ClassVar[bool] = True

    segments: tuple[CallSegment, ...] = Field(min_length=1)


def segments_event_id(segments: tuple[CallSegment, ...] | list[CallSegment]) -> str:
    """The id of a CallSegmentsReceived: the same for the same segments, so a batch forwarded again
    as it was (a retry) is dropped by JetStream's duplicate window."""
    import hashlib
    import uuid

    digest = hashlib.sha256("\n".join(f"{s.call_id}#{s.seq}" for s in segments).encode()).hexdigest()
    return str(uuid.uuid5(CALL_NAMESPACE, f"segments:{digest}"))


class CustomerNoticeRequested(Event):
    """A notice the channel must deliver to the customer (SMS, e-mail or push)."""

    TYPE: ClassVar[str] = "kr.moksori.customer.notice_requested.v1"
    SUBJECT: ClassVar[str] = "voc.notice.{notice}"

    notice: Literal["receipt", "acknowledged", "info_requested", "extended", "transferred", "reopened", "resolved",
                    "thanks", "survey"]
    tracking_code: str
    channel: Channel
    message: str = Field(description="Korean text for the customer, no personal data")
    due: datetime | None = Field(None, description="the deadline the notice is about; `survey`: the link's expiry")
    link: str | None = Field(None, description=(
        "`survey`: the survey page (SURVEY_BASE_URL/<token>), for the message's button; with `delivery` "
        "`phone_call` the agent who calls opens it and enters the customer's answers"))
    delivery: SurveyDelivery | None = Field(None, description=(
        "`survey`: how the customer is asked (SurveyRequested.delivery); `phone_call`: queue a call by an agent "
        "(해피콜) and send the customer the message saying so"))

    def subject(self) -> str:
        return self.SUBJECT.format(notice=self.notice)


class RewardGranted(Event):
    """An adopted suggestion earns points; the points platform pays it. Granted once per suggestion."""

    TYPE: ClassVar[str] = "kr.moksori.feedback.reward_granted.v1"
    SUBJECT: ClassVar[str] = "voc.feedback.reward_granted"

    affiliate: Affiliate
    points: int = Field(gt=0)
    reason: str


class AlertRaised(Event):
    TYPE: ClassVar[str] = "kr.moksori.alert.raised.v1"
    SUBJECT: ClassVar[str] = "voc.alert.{affiliate}.{reason}"

    reason: str  # a flag, "critical", "sla_breach", ...
    severity: Literal["critical", "high", "warning"]
    affiliate: Affiliate | None = None
    message: str
    evidence: tuple[Evidence, ...] = ()
    call_id: str | None = Field(default=None, description="set when raised during a live call")

    def subject(self) -> str:
        return self.SUBJECT.format(affiliate=self.affiliate or "group", reason=self.reason)


class CardBlockRequested(Event):
    """Critical card loss or theft: the card system is asked to block the customer's card(s).
    Moksori requests the action; the card system performs it and answers on its own channel."""

    TYPE: ClassVar[str] = "kr.moksori.action.card_block_requested.v1"
    SUBJECT: ClassVar[str] = "voc.action.card.block"

    tracking_code: str
    customer_ref: str | None = Field(default=None, description="masked; the card system resolves the customer "
                                                               "from the case")
    reason: str
    evidence: tuple[Evidence, ...] = ()


class AccountFreezeRequested(Event):
    """Critical phishing or scam loss: the bank system is asked for a 지급정지 (payment stop)
    on the accounts involved. Moksori requests the action; the bank performs it."""

    TYPE: ClassVar[str] = "kr.moksori.action.account_freeze_requested.v1"
    SUBJECT: ClassVar[str] = "voc.action.bank.freeze"

    tracking_code: str
    customer_ref: str | None = None
    reason: str
    evidence: tuple[Evidence, ...] = ()


class AcknowledgeCase(CaseCommand):
    TYPE: ClassVar[str] = "kr.moksori.cmd.acknowledge_case.v1"
    SUBJECT: ClassVar[str] = "voc.cmd.case.acknowledge"

    handler_name: Text = Field(min_length=1, max_length=100)
    handler_contact: Text = Field(min_length=1, max_length=100)


class ResolveCase(CaseCommand):
    TYPE: ClassVar[str] = "kr.moksori.cmd.resolve_case.v1"
    SUBJECT: ClassVar[str] = "voc.cmd.case.resolve"

    resolution: Text = Field(min_length=1, max_length=5000, description="summary told to the customer")
    outcome: Outcome = "answered"


class RequestInfo(CaseCommand):
    TYPE: ClassVar[str] = "kr.moksori.cmd.request_info.v1"
    SUBJECT: ClassVar[str] = "voc.cmd.case.request_info"

    what: Text = Field(min_length=1, max_length=1000, description="the documents asked for")


class ProvideInfo(CaseCommand):
    TYPE: ClassVar[str] = "kr.moksori.cmd.provide_info.v1"
    SUBJECT: ClassVar[str] = "voc.cmd.case.provide_info"

    note: Text | None = Field(None, max_length=1000)


class ExtendCase(CaseCommand):
    TYPE: ClassVar[str] = "kr.moksori.cmd.extend_case.v1"
    SUBJECT: ClassVar[str] = "voc.cmd.case.extend"

    reason: Text = Field(min_length=2, max_length=1000)
    business_days: int = Field(14, ge=1, le=14)


class TransferCase(CaseCommand):
    TYPE: ClassVar[str] = "kr.moksori.cmd.transfer_case.v1"
    SUBJECT: ClassVar[str] = "voc.cmd.case.transfer"

    affiliate: Affiliate
    team: Team
    reason: Text = Field(min_length=2, max_length=1000)
    by: Text = Field(min_length=1, max_length=100)


class ReopenCase(CaseCommand):
    TYPE: ClassVar[str] = "kr.moksori.cmd.reopen_case.v1"
    SUBJECT: ClassVar[str] = "voc.cmd.case.reopen"

    reason: Text = Field(min_length=2, max_length=1000)


class ReclassifyCase(CaseCommand):
    TYPE: ClassVar[str] = "kr.moksori.cmd.reclassify_case.v1"
    SUBJECT: ClassVar[str] = "voc.cmd.case.reclassify"

    kind: Kind
    topic: Topic
    by: Text = Field(min_length=1, max_length=100)


class ReviewSuggestion(CaseCommand):
    TYPE: ClassVar[str] = "kr.moksori.cmd.review_suggestion.v1"
    SUBJECT: ClassVar[str] = "voc.cmd.case.review"

    outcome: Literal["adopted", "rejected"]
    reason: Text = Field(min_length=2, max_length=1000)
    category: SuggestionCategory | None = Field(None, description=SUGGESTION_CATEGORY_DOC)


class SubmitFeedback(Command):
    TYPE: ClassVar[str] = "kr.moksori.cmd.submit_feedback.v1"
    SUBJECT: ClassVar[str] = "voc.cmd.feedback.submit"

    token: str = Field(min_length=1, max_length=500)
    csat: int | None = Field(default=None, strict=True, ge=1, le=5)
    nps: int | None = Field(default=None, strict=True, ge=0, le=10)
    ces: int | None = Field(default=None, strict=True, ge=1, le=7)
    comment: Text | None = Field(default=None, max_length=2000)


ALL_EVENTS: tuple[type[Event], ...] = (
    VocReceived, VocClassified, CaseRouted, CaseAcknowledged, CaseResolved,
    SurveyRequested, FeedbackSubmitted, AlertRaised, CustomerNoticeRequested, CallSegmentReceived,
    CaseInfoRequested, CaseInfoProvided, CaseExtended, CaseTransferred, CaseReopened, CaseReclassified,
    SuggestionReviewed, CaseEscalated, RewardGranted,
)
ALL_COMMANDS: tuple[type[Command], ...] = (
    AcknowledgeCase, ResolveCase, SubmitFeedback, RequestInfo, ProvideInfo, ExtendCase, TransferCase, ReopenCase,
    ReclassifyCase, ReviewSuggestion,
)
CASE_COMMANDS: tuple[type[Command], ...] = (
    AcknowledgeCase, ResolveCase, RequestInfo, ProvideInfo, ExtendCase, TransferCase, ReopenCase, ReclassifyCase,
    ReviewSuggestion,
)
INGRESS: tuple[type[Message], ...] = (VocSubmitted, SttSegment, CallEnded)
LIVE: tuple[type[Message], ...] = (CallSegmentsReceived,)  # the services' own, about many cases at once
BY_TYPE: dict[str, type[Message]] = {m.TYPE: m for m in (*ALL_EVENTS, *ALL_COMMANDS, *INGRESS, *LIVE)}
