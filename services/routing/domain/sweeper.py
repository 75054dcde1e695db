"""What the SLA sweeper raises for each due mark (pure)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from shared.bizcal import KST  # deadlines are shown in Korean time
from shared.events import AlertRaised, CaseEscalated


def warning(case_id: UUID, tracking_code: str, affiliate: str, due: datetime) -> AlertRaised:
    return AlertRaised(case_id=case_id, reason="sla_warning", severity="warning", affiliate=affiliate,
                       message=f"{tracking_code}: 처리 기한({due.astimezone(KST):%Y-%m-%d %H:%M})의 80%가 지났습니다")


def escalation(case_id: UUID, tracking_code: str, affiliate: str, team: str, deadline: str,
               due: datetime) -> tuple[CaseEscalated, AlertRaised]:
    what = "접수 확인" if deadline == "acknowledge" else "처리"
    return (CaseEscalated(case_id=case_id, affiliate=affiliate, team=team, tracking_code=tracking_code,
                          deadline=deadline, due=due),
            AlertRaised(case_id=case_id, reason="sla_breach", severity="high", affiliate=affiliate,
                        message=f"{tracking_code}: {what} 기한({due.astimezone(KST):%Y-%m-%d %H:%M}) 초과, 팀장에게 이관"))
