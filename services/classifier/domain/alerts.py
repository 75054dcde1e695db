"""Which classifications and which live call segments raise an alert (pure)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from uuid import UUID

from services.classifier.domain.lexicon import Lexicon
from services.classifier.domain.prefilter import fold, required
from services.classifier.domain.rules import Forms, Text, evidence_of, find_critical, find_flags
from shared.events import AlertRaised, Classification, Evidence

ALERT_FLAGS = {
    "regulator": ("high", "금융감독원 등 감독기관 민원 제기 언급"),
    "media": ("high", "언론·SNS 제보 언급"),
    "legal": ("high", "소송·고소 등 법적 조치 언급"),
    "abusive": ("warning", "폭언·욕설 감지: 특별민원 전담 대응"),
}
CRITICAL_MESSAGE = "즉시 조치 필요: 자금 또는 접근 위험"
LIVE = "[통화 중] "


def alerts_for(case_id: UUID, c: Classification, affiliate: str | None = None) -> list[AlertRaised]:
    """`affiliate`: whose supervisors are told (the one the case is routed to); the classifier's by default."""
    affiliate = affiliate or c.affiliate
    alerts = []
    if c.urgency == "critical":
        ev = tuple(e for e in c.evidence if e.field == "urgency" and e.label == "critical")
        if ev:  # a repeat raised to critical has no money-at-risk evidence of its own
            alerts.append(AlertRaised(case_id=case_id, reason="critical", severity="critical", affiliate=affiliate,
                                      message=CRITICAL_MESSAGE, evidence=ev))
    for flag in c.flags:
        if flag in ALERT_FLAGS:
            severity, message = ALERT_FLAGS[flag]
            ev = tuple(e for e in c.evidence if e.field == "flags" and e.label == flag)
            alerts.append(AlertRaised(case_id=case_id, reason=flag, severity=severity, affiliate=affiliate,
                                      message=message, evidence=ev))
    return alerts


@dataclass(frozen=True)
class Screening:
    """What one customer turn of a live call shows."""

    alerts: tuple[tuple[str, str, str, tuple[Evidence, ...]], ...] = ()  # (reason, severity, message, evidence)
    angry: tuple[Evidence, ...] = ()
    abusive: bool = False


QUIET = Screening()


def could_alert(text: str, lex: Lexicon) -> bool:
    """Whether any alerting term, critical rule or anger cue matches the turn: as written, without
    spaces, or with letters typed apart put together (as `Text` searches). Only the patterns whose
    literal text occurs are run (domain/prefilter.py); most turns of a call have none."""
    return _could_alert(text, Forms.of(text), lex)


def _could_alert(text: str, forms: Forms, lex: Lexicon) -> bool:
    compact, composed, screen = forms.compact, forms.composed, lex.screen
    return any(p.search(text) or p.search(compact) or (composed is not None and p.search(composed))
               for p in screen.possible_patterns(screen.present(forms.literal_text)))


CARRIED_FLAGS = ("regulator", "media", "legal")  # the customer escalating: a body named, the step said after it
_carried: dict[int, tuple[Lexicon, re.Pattern | None]] = {}


def carries(tail: str, lex: Lexicon) -> bool:
    """Whether the end of a customer turn names what an escalation flag's terms name (금감원, 언론, 변호사 ...: the
    literal text one of them needs, of two letters or more), so the call's next turn is read with it. Most turns
    name none, and a watch word is rarely cut inside itself, so the second look stays rare."""
    kept = _carried.get(id(lex))
    if kept is None or kept[0] is not lex:
        literals = {s for flag in CARRIED_FLAGS for p in lex.flags[flag].terms
                    if (need := required(p)) and min(map(len, need)) >= 2 for s in need}
        kept = (lex, re.compile("|".join(map(re.escape, sorted(literals, key=len, reverse=True)))) if literals
                else None)
        if len(_carried) > 8:
            _carried.clear()
        _carried[id(lex)] = kept
    return kept[1] is not None and kept[1].search(fold("".join(tail.split()))) is not None


# The end of the call's previous customer turn, read with a turn: STT cuts speech at pauses, so a watch word and
# what the customer does with it may fall in two segments ("아 네 그게요 금감원에" / "민원 넣을 거예요").
CONTEXT_CHARS = 30


def screen_segment(text: str, lex: Lexicon, before: str = "") -> Screening:
    """A cheap test decides whether the turn needs a closer look; most turns of a call do not,
    which keeps screening at tens of thousands of segments a second. `before`: the end of the call's
    previous customer turn (CONTEXT_CHARS): an alert that only the two together show is the turn's too
    (its evidence offsets are the turn's, a span begun in the previous turn starting before 0). Anger
    and abuse are the turn's own, so each turn is counted once. A caller passes `before` only when it
    `carries` an escalation's watch word, which keeps the second look to few turns."""
    forms = Forms.of(text)
    own = screen_closely(text, lex, forms) if _could_alert(text, forms, lex) else QUIET
    if not before:
        return own
    joined = f"{before} {text}"
    joined_forms = Forms.of(joined)
    if not _could_alert(joined, joined_forms, lex):
        return own
    starts = len(joined) - len(text)
    have = {reason for reason, *_ in own.alerts}
    across = tuple((reason, severity, message, tuple(_shifted(e, starts) for e in evidence))
                   for reason, severity, message, evidence in screen_closely(joined, lex, joined_forms).alerts
                   if reason not in have and any(e.end > starts for e in evidence))
    return replace(own, alerts=own.alerts + across) if across else own


def _shifted(ev: Evidence, by: int) -> Evidence:
    return ev.model_copy(update={"start": ev.start - by, "end": ev.end - by})


def screen_closely(text: str, lex: Lexicon, forms: Forms | None = None) -> Screening:
    t = Text(text, lex.prefilter, forms)
    alerts = []
    flags = find_flags(t, lex)
    for flag, ev in flags.items():
        if flag in ALERT_FLAGS:
            severity, message = ALERT_FLAGS[flag]
            alerts.append((flag, severity, LIVE + message, (ev,)))
    critical = find_critical(t, lex.urgency)
    if critical:
        ev = tuple(evidence_of(t, "urgency", "critical", name, span) for name, span in critical.items())
        alerts.append(("critical", "critical", LIVE + CRITICAL_MESSAGE, ev))
    anger = t.any(lex.emotion.anger)
    angry = (Evidence(field="urgency", label="high", rule="emotion:anger", text=text[anger.start:anger.end],
                      start=anger.start, end=anger.end),) if anger else ()
    if "abusive" in flags:
        angry = (*angry, flags["abusive"])
    return Screening(tuple(alerts), angry, "abusive" in flags)


def turn_reaching(before: tuple[int, int], turns: Sequence[Screening], after_turns: int
                  ) -> tuple[int, int, int] | None:
    """Of one call's angry turns in a batch, in call order, the one that brings the call's count
    of angry turns to `after_turns`, given (angry, abusive) turns counted before the batch:
    (its index, the angry and the abusive turns counted then). None while the count stays below."""
    angry, abusive = before
    for i, s in enumerate(turns):
        angry, abusive = angry + 1, abusive + int(s.abusive)
        if angry >= after_turns:
            return i, angry, abusive
    return None


def emotion_alert(case_id: UUID, call_id: str, affiliate: str | None, angry_turns: int, abusive_turns: int,
                  evidence: tuple[Evidence, ...]) -> AlertRaised:
    if abusive_turns:
        advice = f"고객 감정 고조: 분노 발화 {angry_turns}회(폭언 {abusive_turns}회). 특별민원 전담팀 이관 권고"
    else:
        advice = f"고객 감정 고조: 분노 발화 {angry_turns}회. 상급자(슈퍼바이저) 연결 권고"
    return AlertRaised(case_id=case_id, reason="emotion", severity="warning", affiliate=affiliate,
                       message=LIVE + advice, evidence=evidence, call_id=call_id)
