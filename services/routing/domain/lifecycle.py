"""The case lifecycle inside an affiliate team (pure).

Each command is checked against the state machine and returns a Decision: the event
to record, the columns that change, and the customer notice Korean practice
requires. A command that repeats what already happened returns None (a retried
command emits nothing); an illegal one raises InvalidTransition and changes nothing.

    routed ──acknowledge──▶ acknowledged ──resolve──▶ resolved ──reopen──▶ routed
      │  ▲                     │  ▲
      │  └──transfer (any open state, SLA carried over)
      └──request_info──▶ waiting_info ──provide_info──▶ (back, deadline moved by the pause)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from services.routing.domain.sla import deadlines
from shared.bizcal import KST, BusinessCalendar
from shared.directory import Directory
from shared.events import (
    OUTCOME_KO, AcknowledgeCase, CaseAcknowledged, CaseExtended, CaseInfoProvided, CaseInfoRequested, CaseReclassified,
    CaseReopened, CaseResolved, CaseRouted, CaseTransferred, Command, CustomerNoticeRequested, Event, ExtendCase,
    ProvideInfo, ReclassifyCase, ReopenCase, RequestInfo, ResolveCase, ReviewSuggestion, SuggestionReviewed,
    TransferCase,
)
from shared.pii import shares_customer

OPEN = ("routed", "acknowledged", "waiting_info")
STATUSES = (*OPEN, "resolved")


class InvalidTransition(ValueError):
    pass


@dataclass(frozen=True)
class CaseState:
    case_id: UUID
    tracking_code: str
    affiliate: str
    team: str
    channel: str
    status: str
    kind: str = "complaint"
    topic: str = "other"
    received_at: datetime | None = None
    resolve_due: datetime | None = None
    paused_at: datetime | None = None
    extended: bool = False
    handler_name: str | None = None
    acknowledged_at: datetime | None = None
    resolution: str | None = None
    review_outcome: str | None = None
    review_category: str | None = None
    customer_category: str | None = None  # the category the customer chose for a suggestion, if any
    reopened_count: int = 0
    flags: tuple[str, ...] = ()
    warn_fraction: float = 0.8  # share of the resolution time after which the team is warned (directory)
    # as the first routing had them, for a handoff to the team that takes the case over
    urgency: str = "normal"
    origin: str = "direct"
    text: str | None = None  # None: routed before routing kept it
    customer_ref: str | None = None
    came_via: str | None = None  # the affiliate the customer came through (None: a group-wide channel)
    cross_affiliate: bool = False  # the customer's consent to share their reference across affiliates
    repeated: bool = False
    duplicate: bool | None = None
    handler_contact: str | None = None
    status_before_pause: str | None = None  # what a case waiting for documents goes back to
    ack_due: datetime | None = None
    info_requested: str | None = None  # the documents last asked for while the case waits for them


@dataclass(frozen=True)
class Decision:
    event: Event
    changes: dict = field(default_factory=dict)
    notice: CustomerNoticeRequested | None = None
    handoff: CaseRouted | None = None  # the case on the queue of the team that now has it


def handoff(case: CaseState, kind: str, reason: str, affiliate: str, team: str,
            resolve_due: datetime | None) -> CaseRouted:
    """The case as the team taking it over reads it on its queue (voc.routed.<affiliate>.<team>): a
    transferred case from another team, or a reopened one back to its team. The acknowledgement
    deadline is the first routing's while nobody has acknowledged the case (it is escalated at that time
    whoever has it), none once someone has: the first acknowledgement stands. The customer's reference
    goes to another affiliate only as it would at a first routing (shares_customer)."""
    return CaseRouted(
        case_id=case.case_id, tracking_code=case.tracking_code, channel=case.channel, affiliate=affiliate,
        team=team, kind=case.kind, topic=case.topic, urgency=case.urgency, flags=case.flags,
        text=case.text or "", received_at=case.received_at, resolve_due=resolve_due, origin=case.origin,
        ack_due=case.ack_due if case.acknowledged_at is None else None,
        repeat=case.repeated, duplicate=case.duplicate,
        customer_ref=case.customer_ref if shares_customer(affiliate, case.came_via, case.cross_affiliate) else None,
        suggestion_category=case.customer_category if case.kind == "suggestion" else None,
        handoff=kind, handoff_reason=reason)


def _notice(case: CaseState, kind: str, message: str, due: datetime | None = None) -> CustomerNoticeRequested:
    return CustomerNoticeRequested(case_id=case.case_id, notice=kind, tracking_code=case.tracking_code,
                                   channel=case.channel, message=message, due=due)


NOTICE_RESOLUTION_CHARS = 500  # a notice (알림톡, SMS) carries the answer's start; the status page has all of it
# (the link in the receipt notice: intake's status_page.py shows the resolved entry's whole answer)


def resolved_message(tracking_code: str, outcome: str, resolution: str) -> str:
    """The customer is told the result, not only that the case is closed: the outcome and the answer."""
    answer = resolution if len(resolution) <= NOTICE_RESOLUTION_CHARS else \
        resolution[:NOTICE_RESOLUTION_CHARS].rstrip() + "… (전문은 접수 안내의 처리 현황 링크에서 보실 수 있습니다)"
    return (f"[목소리] 접수번호 {tracking_code} 민원 처리가 완료되었습니다. 처리 결과: {OUTCOME_KO[outcome]}. "
            f"답변: {answer}")


def _require(case: CaseState, allowed: tuple[str, ...], action: str) -> None:
    if case.status not in allowed:
        raise InvalidTransition(f"case {case.tracking_code} is {case.status}; cannot {action} "
                                f"(allowed from: {', '.join(allowed)})")


REOPEN_BUSINESS_DAYS = 14  # a reopened case gets a fresh resolution deadline, as a new complaint would


def _resumed_due(case: CaseState, now: datetime, calendar: BusinessCalendar) -> datetime | None:
    """The deadline once a pause for the customer's documents ends: moved by the business days the
    pause covered (a pause over a weekend or 추석 moves it by the business days in it, not by the
    hours); a pause within one day does not move it."""
    if case.paused_at is None or case.resolve_due is None:
        return case.resolve_due
    paused = calendar.business_days_between(case.paused_at, now)
    return calendar.add_business_days(case.resolve_due, paused) if paused else case.resolve_due


def decide(case: CaseState, cmd: Command, now: datetime, calendar: BusinessCalendar,
           directory: Directory | None = None) -> Decision | None:
    """`directory`: the SLA rules, for the acknowledgement deadline a reopened case gets when nobody had
    acknowledged it (resolved straight away); without it such a case gets none."""
    common = {"case_id": case.case_id, "affiliate": case.affiliate, "team": case.team}
    match cmd:
        case AcknowledgeCase():
            if case.status == "acknowledged" and (case.handler_name, case.handler_contact) == \
                    (cmd.handler_name, cmd.handler_contact):
                return None  # the same handler again; a corrected contact is a new acknowledgement
            _require(case, ("routed", "acknowledged"), "acknowledge")
            return Decision(
                CaseAcknowledged(**common, handler_name=cmd.handler_name, handler_contact=cmd.handler_contact,
                                 acknowledged_at=now),
                {"status": "acknowledged", "acknowledged_at": case.acknowledged_at or now,
                 "handler_name": cmd.handler_name, "handler_contact": cmd.handler_contact},
                _notice(case, "acknowledged", f"[목소리] 접수번호 {case.tracking_code} 민원의 담당자는 "
                                              f"{cmd.handler_name}({cmd.handler_contact})입니다.", case.resolve_due))
        case RequestInfo():
            if case.status == "waiting_info":
                if cmd.what == case.info_requested:
                    return None  # the same request again: a retry, the customer was told once
                # something more is needed: the customer is told of it; the clock stays paused from the first
                # request (a request from before info_requested was kept, migration 011, counts as more)
                return Decision(CaseInfoRequested(**common, what=cmd.what, paused_at=case.paused_at or now),
                                {"info_requested": cmd.what},
                                _notice(case, "info_requested", f"[목소리] 접수번호 {case.tracking_code} 민원 처리를 위해 "
                                                                f"다음 서류가 추가로 필요합니다: {cmd.what}. 서류가 접수될 "
                                                                "때까지 처리 기한은 계속 멈춰 있습니다."))
            _require(case, ("routed", "acknowledged"), "request documents")
            # the customer is told what is needed: the clock stops until it comes
            return Decision(CaseInfoRequested(**common, what=cmd.what, paused_at=now),
                            {"status": "waiting_info", "paused_at": now, "status_before_pause": case.status,
                             "info_requested": cmd.what},
                            _notice(case, "info_requested", f"[목소리] 접수번호 {case.tracking_code} 민원 처리를 위해 "
                                                            f"다음 서류가 필요합니다: {cmd.what}. 서류가 접수될 때까지 "
                                                            "처리 기한이 멈춥니다."))
        case ProvideInfo():
            if case.status != "waiting_info" or case.paused_at is None:
                raise InvalidTransition(f"case {case.tracking_code} is not waiting for documents")
            due = _resumed_due(case, now, calendar)
            # back to where it was: a case transferred after its first acknowledgement is routed to the new
            # team, which has not taken it (a pause from before status_before_pause was read: as before)
            back = case.status_before_pause if case.status_before_pause in ("routed", "acknowledged") else \
                "acknowledged" if case.acknowledged_at else "routed"
            return Decision(CaseInfoProvided(**common, resumed_at=now, resolve_due=due, note=cmd.note),
                            {"status": back, "paused_at": None, "status_before_pause": None, "resolve_due": due,
                             "info_requested": None})
        case ExtendCase():
            _require(case, OPEN, "extend")
            if case.extended:
                raise InvalidTransition(f"case {case.tracking_code} was already extended once")
            if case.resolve_due is not None and now > _resumed_due(case, now, calendar):
                raise InvalidTransition(f"case {case.tracking_code} is past its deadline "
                                        f"({case.resolve_due.astimezone(KST):%Y-%m-%d %H:%M}); an extension is "
                                        "made, and the customer told why, before the deadline")
            due = calendar.add_business_days(case.resolve_due, cmd.business_days)
            return Decision(
                CaseExtended(**common, reason=cmd.reason, business_days=cmd.business_days, resolve_due=due),
                {"extended": True, "extension_reason": cmd.reason, "resolve_due": due},
                _notice(case, "extended", f"[목소리] 접수번호 {case.tracking_code} 민원의 처리 기한이 {due:%Y-%m-%d}로 "
                                          f"연장되었습니다. 사유: {cmd.reason}", due))
        case TransferCase():
            _require(case, OPEN, "transfer")
            if (cmd.affiliate, cmd.team) == (case.affiliate, case.team):
                return None
            due = _resumed_due(case, now, calendar)  # a pause ends with the transfer: its days are credited
            # the SLA carries over: the first acknowledgement stays (the acknowledgement deadline was met
            # or missed once, not again for the new team); the new team names its own handler
            return Decision(
                CaseTransferred(**{**common, "affiliate": cmd.affiliate, "team": cmd.team},
                                from_affiliate=case.affiliate, from_team=case.team, reason=cmd.reason, by=cmd.by,
                                resolve_due=due),
                {"affiliate": cmd.affiliate, "team": cmd.team, "status": "routed", "handler_name": None,
                 "handler_contact": None, "paused_at": None, "info_requested": None, "resolve_due": due},
                _notice(case, "transferred", f"[목소리] 접수번호 {case.tracking_code} 민원의 담당 부서가 변경되었습니다. "
                                             f"처리 예정일은 {due:%Y-%m-%d}입니다.", due),
                handoff(case, "transferred", cmd.reason, cmd.affiliate, cmd.team, due))
        case ResolveCase():
            if case.status == "resolved":
                if case.resolution == cmd.resolution:
                    return None
                raise InvalidTransition(f"case {case.tracking_code} is already resolved")
            _require(case, OPEN, "resolve")
            due = _resumed_due(case, now, calendar)  # resolved while waiting for documents: the pause counts
            within = now <= due if due else None
            return Decision(
                CaseResolved(**common, channel=case.channel, resolution=cmd.resolution, resolved_at=now,
                             outcome=cmd.outcome, within_sla=within, flags=case.flags,
                             tracking_code=case.tracking_code),
                {"status": "resolved", "resolved_at": now, "resolution": cmd.resolution, "outcome": cmd.outcome,
                 "paused_at": None, "info_requested": None},
                _notice(case, "resolved", resolved_message(case.tracking_code, cmd.outcome, cmd.resolution)))
        case ReopenCase():
            _require(case, ("resolved",), "reopen")
            due = calendar.add_business_days(now, REOPEN_BUSINESS_DAYS)
            # fresh deadlines, and their warning and breach marks cleared: the old ones are not missed again.
            # A case resolved before anyone acknowledged it is acknowledged afresh, by its urgency's rule from
            # now (its first acknowledgement deadline, long past, would escalate it at once); and the new
            # deadline may be extended once, as a new complaint's may.
            changes = {"status": "routed", "resolved_at": None, "resolution": None, "outcome": None,
                       "reopened_count": case.reopened_count + 1, "resolve_due": due,
                       "warn_at": now + (due - now) * case.warn_fraction, "warned_at": None,
                       "breached_at": None, "clock_start": now, "extended": False, "extension_reason": None}
            if case.acknowledged_at is None:
                changes |= {"ack_due": deadlines(case.urgency, now, directory, calendar)[0] if directory else None,
                            "ack_breached_at": None}
                case = replace(case, ack_due=changes["ack_due"])
            return Decision(CaseReopened(**common, reason=cmd.reason, resolve_due=due), changes,
                            _notice(case, "reopened", f"[목소리] 접수번호 {case.tracking_code} 민원을 다시 살펴보고 "
                                                      f"있습니다. 처리 예정일은 {due:%Y-%m-%d}입니다.", due),
                            handoff(case, "reopened", cmd.reason, case.affiliate, case.team, due))
        case ReclassifyCase():
            if (cmd.kind, cmd.topic) == (case.kind, case.topic):
                return None
            return Decision(CaseReclassified(**common, kind=cmd.kind, topic=cmd.topic, previous_kind=case.kind,
                                             previous_topic=case.topic, by=cmd.by),
                            {"kind": cmd.kind, "topic": cmd.topic})
        case ReviewSuggestion():
            if case.kind != "suggestion":
                raise InvalidTransition(f"case {case.tracking_code} is a {case.kind}, not a suggestion")
            category = cmd.category or case.customer_category  # the reviewer's, or else the customer's
            if case.review_outcome == cmd.outcome:
                if cmd.category is not None and cmd.category != case.review_category:
                    # the report has counted it under the first review's category: a different one is an error the
                    # reviewer must hear of, not a repeat to answer "unchanged"
                    raise InvalidTransition(f"suggestion {case.tracking_code} was already {case.review_outcome} "
                                            f"as {case.review_category or 'unsorted'}; its category is not changed")
                return None
            if case.review_outcome is not None:
                raise InvalidTransition(f"suggestion {case.tracking_code} was already {case.review_outcome}")
            return Decision(SuggestionReviewed(**common, outcome=cmd.outcome, reason=cmd.reason,
                                               tracking_code=case.tracking_code, channel=case.channel,
                                               category=category, reviewed_at=now),
                            {"review_outcome": cmd.outcome, "review_reason": cmd.reason,
                             "review_category": category})
    raise TypeError(f"routing does not handle {type(cmd).__name__}")


def apply(case: CaseState, changes: dict) -> CaseState:
    """The state after a decision (for tests and for chaining commands in memory)."""
    known = {k: v for k, v in changes.items() if k in CaseState.__dataclass_fields__}
    return replace(case, **known)


STAFF_FIELDS = ("by", "handler_name", "handler_contact")


def history_for(caller: str, steps: list[dict]) -> list[dict]:
    """A case's log (`event`, `data`, `staff_id` per step) as `caller` may see it: the steps another
    affiliate took before a transfer without its staff (사번, names, contacts). A transfer is the
    sending affiliate's step. The consumer-protection office (group) sees everything."""
    if caller == "group":
        return steps
    shown = []
    for step in steps:
        data = step["data"]
        by = data.get("from_affiliate") if step["event"] == "CaseTransferred" else data.get("affiliate")
        if by not in (None, caller):
            step = {**step, "staff_id": None, "data": {k: v for k, v in data.items() if k not in STAFF_FIELDS}}
        shown.append(step)
    return shown
