"""How each event shows on the customer's timeline (pure). Status only moves forward:
events from different streams can arrive in any order."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.events import (
    CaseAcknowledged, CaseResolved, CaseRouted, Event, FeedbackSubmitted, SurveyRequested, VocClassified,
)

STATUS_RANK = {"received": 0, "classified": 1, "routed": 2, "acknowledged": 3, "resolved": 4, "rated": 5}

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

    @property
    def rank(self) -> int:
        return STATUS_RANK[self.status]


def entry_for(event: Event) -> TimelineEntry:
    match event:
        case VocClassified(classification=c):
            return TimelineEntry("classified", "접수 내용을 확인하고 있습니다.",
                                 {"kind": c.kind, "topic": c.topic, "urgency": c.urgency})
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
            return TimelineEntry("resolved", "처리가 완료되었습니다.", {"resolution": e.resolution})
        case SurveyRequested() as e:
            return TimelineEntry("resolved", "만족도 조사를 보내드렸습니다.", {"delivery": e.delivery},
                                 advances_status=False)
        case FeedbackSubmitted():
            return TimelineEntry("rated", "소중한 평가 감사합니다.")
    raise ValueError(f"no timeline entry for {type(event).__name__}")
