"""Auditable rules (../shared/CLASSIFIER_CONTRACT.md): risk flags and urgency.
Pure functions of the text and the lexicon; every flag and every critical or high
urgency carries its evidence span and the name of the rule that matched."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from services.classifier.domain.lexicon import Lexicon, Patterns
from shared.events import Classification, Evidence

CRITICAL_TOPIC = {
    "card_lost_or_stolen": "card_loss_theft", "unauthorized_charge": "card_loss_theft",
    "scam_loss": "fraud_phishing", "account_takeover": "fraud_phishing", "loan_in_my_name": "fraud_phishing",
    "scam_at_branch": "fraud_phishing",
}


@dataclass(frozen=True)
class Span:
    start: int
    end: int


class Text:
    """The text as written plus a copy without whitespace, for STT output that lost
    its spacing; matches in the copy map back to offsets in the original."""

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.index = [i for i, ch in enumerate(raw) if not ch.isspace()]
        self.compact = "".join(raw[i] for i in self.index)

    def find(self, patterns: Patterns, start: int = 0, end: int | None = None) -> Iterator[Span]:
        end = len(self.raw) if end is None else end
        seen: set[int] = set()
        for p in patterns:
            for m in p.finditer(self.raw, start, end):
                if m.end() > m.start():
                    seen.add(m.start())
                    yield Span(m.start(), m.end())
            cs, ce = self._to_compact(start), self._to_compact(end)
            for m in p.finditer(self.compact, cs, ce):
                if m.end() > m.start():
                    s = self.index[m.start()]
                    if s not in seen:
                        seen.add(s)
                        yield Span(s, self.index[m.end() - 1] + 1)

    def _to_compact(self, pos: int) -> int:
        import bisect

        return bisect.bisect_left(self.index, pos)

    def any(self, patterns: Patterns, start: int = 0, end: int | None = None) -> Span | None:
        return next(self.find(patterns, start, end), None)

    def count(self, patterns: Patterns) -> int:
        return sum(1 for _ in self.find(patterns))


def evidence_of(t: Text, field: str, label: str, rule: str, span: Span) -> Evidence:
    return Evidence(field=field, label=label, rule=rule, text=t.raw[span.start:span.end],
                    start=span.start, end=span.end)


def find_flags(t: Text, lex: Lexicon) -> dict[str, Evidence]:
    g = lex.guards
    found: dict[str, Evidence] = {}
    for flag, rule in lex.flags.items():
        for term in t.find(rule.terms):
            after_end = min(len(t.raw), term.end + g.window)
            if t.any(g.impersonation, term.end, min(len(t.raw), term.end + 10)):
                continue  # a scammer posing as the authority, not the customer escalating
            if t.any(g.negation, term.end, after_end + 6):
                continue
            span = term
            if rule.action or rule.action_before:
                act = t.any(rule.action, term.end, after_end) if rule.action else None
                before = t.any(rule.action_before, max(0, term.start - g.window), term.start) \
                    if rule.action_before else None
                if act is None and before is None and not t.any(rule.action, term.start, term.end):
                    continue
                if act is not None:
                    span = Span(term.start, act.end)
            found[flag] = evidence_of(t, "flags", flag, flag, span)
            break
    return found


def find_urgency_rules(t: Text, rules: dict[str, Patterns]) -> dict[str, Span]:
    hits = {}
    for name, patterns in rules.items():
        span = t.any(patterns)
        if span:
            hits[name] = span
    return hits


def decide_urgency(t: Text, kind: str, flags: dict, critical: dict, high: dict) -> tuple[str, list[Evidence]]:
    if critical:
        return "critical", [evidence_of(t, "urgency", "critical", name, span) for name, span in critical.items()]
    escalation = flags.keys() & {"regulator", "media", "legal", "abusive"}
    harm_to_vulnerable = "vulnerable" in flags and kind == "complaint" and bool(high)
    if high or escalation or harm_to_vulnerable:
        return "high", [evidence_of(t, "urgency", "high", name, span) for name, span in high.items()]
    if kind == "complaint":
        return "normal", []
    if kind == "inquiry" and "vulnerable" in flags:
        return "normal", []
    return "low", []
