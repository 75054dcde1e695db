"""Auditable rules: risk flags, urgency and a first pass at kind, topic, affiliate
and sentiment (../shared/CLASSIFIER_CONTRACT.md). Pure functions of the text and
the lexicon; every flag and every critical urgency carries its evidence span."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from services.classifier.domain.lexicon import Lexicon, Patterns
from shared.events import Classification, Evidence

MODEL_VERSION = "rules"

TOPIC_AFFILIATE = {
    "card_loss_theft": "card", "card_payment": "card", "account_transfer": "bank", "loan": "bank",
    "branch_atm": "bank", "investment": "securities", "insurance": "insurance", "points_benefits": "group",
}
CRITICAL_TOPIC = {
    "card_lost_or_stolen": "card_loss_theft", "unauthorized_charge": "card_loss_theft",
    "scam_loss": "fraud_phishing", "account_takeover": "fraud_phishing", "loan_in_my_name": "fraud_phishing",
    "scam_at_branch": "fraud_phishing",
}
# when two topics score alike, the more specific problem wins
TOPIC_PRIORITY = ("card_loss_theft", "fraud_phishing", "mis_selling", "privacy", "insurance", "investment", "loan",
                  "card_payment", "points_benefits", "staff_service", "branch_atm", "account_transfer",
                  "digital_service", "other")


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


def _evidence(t: Text, field: str, label: str, rule: str, span: Span) -> Evidence:
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
            found[flag] = _evidence(t, "flags", flag, flag, span)
            break
    return found


def find_urgency_rules(t: Text, rules: dict[str, Patterns]) -> dict[str, Span]:
    hits = {}
    for name, patterns in rules.items():
        span = t.any(patterns)
        if span:
            hits[name] = span
    return hits


def _scores(t: Text, table: dict[str, Patterns]) -> dict[str, int]:
    return {k: t.count(p) for k, p in table.items()}


def _confidence(scores: dict[str, float], chosen: str) -> float:
    top = scores.get(chosen, 0)
    rest = sorted((v for k, v in scores.items() if k != chosen), reverse=True)
    second = rest[0] if rest else 0
    return round(min(0.95, 0.5 + 0.45 * (top - second) / (top + second + 1)), 2) if top else 0.4


def classify_text(text: str, lex: Lexicon, *, channel: str | None = None,
                  affiliate_hint: str | None = None, kind_hint: str | None = None) -> Classification:
    t = Text(text)
    flags = find_flags(t, lex)
    critical = find_urgency_rules(t, lex.urgency.critical)
    high = find_urgency_rules(t, lex.urgency.high)

    topic_scores = _scores(t, lex.topics)
    for rule in critical:
        topic_scores[CRITICAL_TOPIC[rule]] += 3
    best = max(topic_scores.values())
    topic = next(tp for tp in TOPIC_PRIORITY if topic_scores[tp] == best) if best else "other"

    kind_scores = {k: float(v) for k, v in _scores(t, lex.kinds).items()}
    if kind_hint:
        kind_scores[kind_hint] += 0.5
    kind = _decide_kind(kind_scores, critical, high)

    urgency, urgency_evidence = _decide_urgency(t, kind, flags, critical, high)
    affiliate = affiliate_hint or TOPIC_AFFILIATE.get(topic) or _affiliate_by_words(t, lex)
    sentiment = _decide_sentiment(t, lex, kind)

    evidence = tuple(sorted([*flags.values(), *urgency_evidence], key=lambda e: (e.start, e.field, e.label)))
    confidence = {
        "kind": _confidence(kind_scores, kind),
        "topic": _confidence({k: float(v) for k, v in topic_scores.items()}, topic),
        "urgency": 0.9 if critical or high or flags else 0.6,
        "flags": 0.9 if flags else 0.8,
        "affiliate": 1.0 if affiliate_hint else (0.8 if topic in TOPIC_AFFILIATE else 0.5),
        "sentiment": 0.7,
    }
    return Classification(kind=kind, topic=topic, urgency=urgency, flags=tuple(sorted(flags)),
                          affiliate=affiliate, sentiment=sentiment, confidence=confidence, evidence=evidence)


def _decide_kind(s: dict[str, float], critical: dict, high: dict) -> str:
    harm = bool(high.keys() - {"scam_attempt"}) or bool(critical.keys() - {"card_lost_or_stolen"})
    if critical.keys() == {"card_lost_or_stolen"} and not high and s["complaint"] < 2:
        return "inquiry"  # a lost card with no misuse is a routine request (contract)
    if harm:
        return "complaint"
    if s["praise"] > 0 and s["praise"] >= s["complaint"] and s["praise"] >= s["suggestion"]:
        return "praise"
    if s["suggestion"] > 0 and s["suggestion"] >= s["complaint"]:
        return "suggestion"
    if s["inquiry"] > 0 and s["inquiry"] > s["complaint"]:
        return "inquiry"
    return "complaint" if s["complaint"] > 0 or critical else ("inquiry" if s["inquiry"] else "complaint")


def _decide_urgency(t: Text, kind: str, flags: dict, critical: dict, high: dict) -> tuple[str, list[Evidence]]:
    if critical:
        return "critical", [_evidence(t, "urgency", "critical", name, span) for name, span in critical.items()]
    escalation = flags.keys() & {"regulator", "media", "legal", "abusive"}
    harm_to_vulnerable = "vulnerable" in flags and kind == "complaint" and bool(high)
    if high or escalation or harm_to_vulnerable:
        return "high", [_evidence(t, "urgency", "high", name, span) for name, span in high.items()]
    if kind == "complaint":
        return "normal", []
    if kind == "inquiry" and "vulnerable" in flags:
        return "normal", []
    return "low", []


def _affiliate_by_words(t: Text, lex: Lexicon) -> str:
    scores = _scores(t, lex.affiliates)
    best = max(scores.values())
    return next(a for a in ("card", "bank", "securities", "insurance", "group") if scores[a] == best) \
        if best else "group"


def _decide_sentiment(t: Text, lex: Lexicon, kind: str) -> str:
    neg, pos = t.count(lex.sentiment["negative"]), t.count(lex.sentiment["positive"])
    if kind == "praise":
        return "positive"
    if kind == "complaint":
        return "negative" if neg or not pos else ("positive" if pos > neg + 1 else "negative")
    if neg > pos:
        return "negative"
    if pos > neg:
        return "positive" if kind != "suggestion" or pos > 1 else "neutral"
    return "neutral"


_ = re  # patterns come compiled from the lexicon
