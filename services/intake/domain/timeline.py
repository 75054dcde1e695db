"""How each event shows on the customer's timeline (pure). Status only moves forward:
events from different streams can arrive in any order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from shared.events import (
    OUTCOME_KO, SUGGESTION_CATEGORY_KO, CaseAcknowledged, CaseExtended, CaseInfoProvided, CaseInfoRequested,
    CaseReclassified, CaseReopened, CaseResolved, CaseRouted, CaseTransferred, Event, FeedbackSubmitted,
    RewardGranted, SuggestionReviewed, SurveyRequested, VocClassified,
)

# rank orders statuses for reporting; the current status is the latest event's (by time)
STATUS_RANK = {"received": 0, "classified": 1, "routed": 2, "reopened": 2, "acknowledged": 3,
               "waiting_for_documents": 3, "in_progress": 3, "resolved": 4, "rated": 5, "closed": 6}

AFFILIATE_KO = {"bank": "은행", "card": "카드", "securities": "증권", "insurance": "보험", "group": "그룹"}
TEAM_KO = {
    "general": "고객지원팀", "consumer_protection": "소비자보호팀", "fraud_response": "사고대응팀",
    "special_handling": "특별민원전담팀", "suggestions_review": "고객제안심사팀",
}


@dataclass(frozen=True)
class TimelineEntry:
    status: str
    message: str
    detail: dict = field(default_factory=dict)
    advances_status: bool = True

    expected_resolution: object = None  # a new deadline the customer should see

    @property
    def rank(self) -> int:
        return STATUS_RANK[self.status]


def entry_for(event: Event) -> TimelineEntry | None:
    """None for events the customer does not see."""
    match event:
        case VocClassified(classification=c):
            return TimelineEntry("classified", "접수 내용을 확인하고 있습니다.",
                                 {"kind": c.kind, "topic": c.topic, "urgency": c.urgency})
        case CaseRouted(handoff=str()):
            return None  # a transfer's or reopen's handoff to a team: CaseTransferred / CaseReopened tell it
        case CaseRouted(copy_reason=()) as e:
            return TimelineEntry("routed", f"{AFFILIATE_KO[e.affiliate]} {TEAM_KO[e.team]}에 배정되었습니다.",
                                 {"affiliate": e.affiliate, "team": e.team,
                                  "resolve_due": e.resolve_due.isoformat() if e.resolve_due else None})
        case CaseRouted() as e:
            return TimelineEntry("routed", "소비자보호 부서에서 함께 살펴보고 있습니다.",
                                 {"affiliate": e.affiliate, "team": e.team}, advances_status=False)
        case CaseAcknowledged() as e:
            return TimelineEntry("acknowledged", f"담당자 {e.handler_name}({e.handler_contact})가 처리하고 있습니다.",
                                 {"handler_name": e.handler_name, "handler_contact": e.handler_contact})
        case CaseResolved() as e:
            return TimelineEntry("resolved", f"처리가 완료되었습니다. 처리 결과: {OUTCOME_KO[e.outcome]}.",
                                 {"resolution": e.resolution, "outcome": e.outcome})
        case SurveyRequested() as e:
            told = ("담당 직원이 전화로 만족도를 여쭙겠습니다." if e.delivery == "phone_call"
                    else "만족도 조사를 보내드렸습니다.")
            # the link lets the customer rate from the status page too: the timeline is shown with the case's
            # secret, and to the channel system that submitted the case, which may show it in its app
            detail = {"delivery": e.delivery, "link": e.link} if e.link and e.delivery != "phone_call" \
                else {"delivery": e.delivery}
            return TimelineEntry("resolved", told, detail, advances_status=False)
        case FeedbackSubmitted():
            return TimelineEntry("rated", "소중한 평가 감사합니다.")
        case CaseInfoRequested() as e:
            return TimelineEntry("waiting_for_documents", f"서류 보완을 요청드렸습니다: {e.what}. "
                                 "서류가 접수될 때까지 처리 기한이 멈춥니다.", {"what": e.what})
        case CaseInfoProvided() as e:
            return TimelineEntry("in_progress", "보완 서류가 접수되어 처리를 다시 시작했습니다. "
                                 + (f"접수 내용: {e.note}. " if e.note else "")
                                 + f"처리 예정일은 {e.resolve_due:%Y-%m-%d}입니다.",
                                 {"resolve_due": e.resolve_due.isoformat(), **({"note": e.note} if e.note else {})},
                                 expected_resolution=e.resolve_due)
        case CaseExtended() as e:
            return TimelineEntry("in_progress", f"처리 기한이 {e.resolve_due:%Y-%m-%d}로 연장되었습니다. 사유: {e.reason}",
                                 {"reason": e.reason, "resolve_due": e.resolve_due.isoformat()},
                                 advances_status=False, expected_resolution=e.resolve_due)
        case CaseTransferred() as e:
            return TimelineEntry("routed", f"{AFFILIATE_KO[e.affiliate]} {TEAM_KO[e.team]}(으)로 이관되었습니다. "
                                 f"처리 예정일은 {e.resolve_due:%Y-%m-%d}입니다.",
                                 {"affiliate": e.affiliate, "team": e.team, "resolve_due": e.resolve_due.isoformat()},
                                 expected_resolution=e.resolve_due)
        case CaseReopened() as e:
            return TimelineEntry("reopened", "민원을 다시 살펴보고 있습니다." + (
                f" 처리 예정일은 {e.resolve_due:%Y-%m-%d}입니다." if e.resolve_due else ""), {"reason": e.reason},
                expected_resolution=e.resolve_due)
        case CaseReclassified():
            return TimelineEntry("in_progress", "담당 부서에서 민원 분류를 정정했습니다.", advances_status=False)
        case RewardGranted() as e:
            return TimelineEntry("resolved", f"제안 채택 포상으로 {e.points:,}포인트가 지급됩니다.", {"points": e.points},
                                 advances_status=False)
        case SuggestionReviewed() as e:
            about = f"({SUGGESTION_CATEGORY_KO[e.category]} 부문)" if e.category else ""
            msg = f"제안이 채택되었습니다{about}. 감사합니다." if e.outcome == "adopted" else f"제안을 검토했습니다: {e.reason}"
            return TimelineEntry("resolved", msg, {"outcome": e.outcome, "category": e.category},
                                 advances_status=False)
    return None


def owner_of(event: Event) -> str | None:
    """The affiliate that has the case from this event on (reveal keys are scoped by it), for the events
    that decide it: the case's routing and a transfer (the new affiliate). Not the group consumer-protection
    office's copy of a flagged case (copy_reason set, affiliate `group`: the case stays with its affiliate),
    nor a handoff (a transfer's or reopen's CaseRouted to the team that has the case: its CaseTransferred names
    the same affiliate, and a reopen leaves the case where it is). `origin` (fss_transfer: 대외민원 from the
    FSS) says how the case came in, not who has it."""
    match event:
        case CaseRouted(copy_reason=(), handoff=None) as e:
            return e.affiliate
        case CaseTransferred() as e:
            return e.affiliate
    return None


def closing_entry(event: Event) -> TimelineEntry | None:
    """The customer's rating closes the case (a reopen opens it again)."""
    if isinstance(event, FeedbackSubmitted):
        return TimelineEntry("closed", "민원이 종결되었습니다.")
    return None


@dataclass(frozen=True)
class TimelineWrites:
    """What a batch of events writes, reduced to one statement each (pure). Applying `rows`,
    then `statuses` and `deadlines` under the "latest event time wins" condition, leaves the
    case exactly as applying the events one by one in order would: per case the entry with the
    latest time, the first of equal times (one by one, a later entry of the same time does not
    pass `status_at < at`); the same for the affiliate that has the case (`owner_of`). Applying
    them again changes nothing, so the timeline consumer needs no inbox rows (rows are keyed by
    case and event id)."""
    rows: list[tuple[UUID, str, str, datetime, str, dict]]   # case, event id, status, at, message, detail
    statuses: dict[UUID, tuple[str, int, datetime]]          # case -> status, rank, at
    deadlines: dict[UUID, tuple[datetime, datetime]]         # case -> expected resolution, at
    owners: dict[UUID, tuple[str, datetime]] = field(default_factory=dict)  # case -> affiliate, at


def timeline_writes(batch: Iterable[tuple[UUID, str, datetime, Event, TimelineEntry]]) -> TimelineWrites:
    """`batch`: (case id, event id, event time, event, its `entry_for`) in delivery order."""
    rows: list[tuple[UUID, str, str, datetime, str, dict]] = []
    statuses: dict[UUID, tuple[str, int, datetime]] = {}
    deadlines: dict[UUID, tuple[datetime, datetime]] = {}
    owners: dict[UUID, tuple[str, datetime]] = {}

    def advance(case_id: UUID, entry: TimelineEntry, at: datetime) -> None:
        if case_id not in statuses or at > statuses[case_id][2]:
            statuses[case_id] = (entry.status, entry.rank, at)

    for case_id, event_id, at, event, entry in batch:
        rows.append((case_id, event_id, entry.status, at, entry.message, entry.detail))
        if entry.advances_status:
            advance(case_id, entry, at)
        closing = closing_entry(event)
        if closing:  # a second entry for the same event, just after it
            closed_at = at + timedelta(microseconds=1)
            rows.append((case_id, f"{event_id}:closed", closing.status, closed_at, closing.message, {}))
            advance(case_id, closing, closed_at)
        due = entry.expected_resolution or (
            event.resolve_due if isinstance(event, CaseRouted) and not event.copy_reason else None)
        if due and (case_id not in deadlines or at > deadlines[case_id][1]):
            deadlines[case_id] = (due, at)
        owner = owner_of(event)
        if owner and (case_id not in owners or at > owners[case_id][1]):
            owners[case_id] = (owner, at)
    return TimelineWrites(rows, statuses, deadlines, owners)
