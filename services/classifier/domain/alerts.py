"""Which classifications raise an alert (pure)."""

from __future__ import annotations

from uuid import UUID

from shared.events import AlertRaised, Classification

ALERT_FLAGS = {
    "regulator": ("high", "금융감독원 등 감독기관 민원 제기 언급"),
    "media": ("high", "언론·SNS 제보 언급"),
    "legal": ("high", "소송·고소 등 법적 조치 언급"),
    "abusive": ("warning", "폭언·욕설 감지: 특별민원 전담 대응"),
}


def alerts_for(case_id: UUID, c: Classification) -> list[AlertRaised]:
    alerts = []
    if c.urgency == "critical":
        ev = tuple(e for e in c.evidence if e.field == "urgency" and e.label == "critical")
        alerts.append(AlertRaised(case_id=case_id, reason="critical", severity="critical", affiliate=c.affiliate,
                                  message="즉시 조치 필요: 자금 또는 접근 위험", evidence=ev))
    for flag in c.flags:
        if flag in ALERT_FLAGS:
            severity, message = ALERT_FLAGS[flag]
            ev = tuple(e for e in c.evidence if e.field == "flags" and e.label == flag)
            alerts.append(AlertRaised(case_id=case_id, reason=flag, severity=severity, affiliate=c.affiliate,
                                      message=message, evidence=ev))
    return alerts


def live_alerts(case_id: UUID, call_id: str, text: str, lexicon) -> list[AlertRaised]:
    """Screening one live segment of what the customer said: escalation words and
    money-at-risk-now raise alerts while the call is still going on."""
    from services.classifier.domain.rules import Text, find_flags, find_urgency_rules, _evidence

    t = Text(text)
    alerts = []
    for flag, ev in find_flags(t, lexicon).items():
        if flag in ALERT_FLAGS:
            severity, message = ALERT_FLAGS[flag]
            alerts.append(AlertRaised(case_id=case_id, reason=flag, severity=severity, message=f"[통화 중] {message}",
                                      evidence=(ev,), call_id=call_id))
    critical = find_urgency_rules(t, lexicon.urgency.critical)
    if critical:
        ev = tuple(_evidence(t, "urgency", "critical", name, span) for name, span in critical.items())
        alerts.append(AlertRaised(case_id=case_id, reason="critical", severity="critical",
                                  message="[통화 중] 즉시 조치 필요: 자금 또는 접근 위험", evidence=ev, call_id=call_id))
    return alerts
