"""One classification: the statistical model decides topic, kind, sentiment and
affiliate; the auditable rules decide flags and urgency, with evidence; then the
contract's decision rules combine them (../shared/CLASSIFIER_CONTRACT.md).

Pure: the tokenizer, the model and the lexicon come in as values, so the service,
the offline command, feedback's comment classification and the tests all run this."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.classifier.domain.features import Morph
from services.classifier.domain.lexicon import Lexicon
from services.classifier.domain.model import LinearModel
from services.classifier.domain.normalise import hangul_share, normalise
from services.classifier.domain.rules import (CRITICAL_TOPIC, INCIDENT_RULES, NOT_ESCALATING, Text,
                                              decide_urgency, find_critical, find_flags, find_urgency_rules,
                                              is_staff_note, model_critical)
from services.classifier.domain.wordindex import WordIndex
from shared.events import Classification

URGENCY_ORDER = ("low", "normal", "high", "critical")
MIN_HANGUL_SHARE = 0.2
CUES = set(NOT_ESCALATING)  # urgency.high groups that only lift an inquiry to normal  # below this, and with no rule hit, a text is not treated as Korean VOC


class Tokenizer(Protocol):
    def morphs(self, text: str) -> list[Morph]: ...

    def analyse_word(self, word: str) -> Sequence[Morph]:
        """One space-separated word's morphemes; `morphs` of a text is those of its words."""


@dataclass(frozen=True)
class Item:
    text: str
    channel: str | None = None
    affiliate_hint: str | None = None
    kind_hint: str | None = None


@dataclass(frozen=True)
class Classifier:
    tokenizer: Tokenizer
    model: LinearModel
    lexicon: Callable[[], Lexicon]  # looked up per call, so an edited lexicon applies at once
    words: WordIndex = field(init=False, repr=False)  # the features, word by word (features.py's, as indices)

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", WordIndex(self.tokenizer.analyse_word, self.model.vocabulary))

    @property
    def version(self) -> str:
        return f"{self.model.version}+lexicon-{self.lexicon().version}"

    def classify(self, text: str, *, channel: str | None = None, affiliate_hint: str | None = None,
                 kind_hint: str | None = None) -> Classification:
        return self.classify_batch([Item(text, channel, affiliate_hint, kind_hint)])[0]

    def classify_batch(self, items: Sequence[Item]) -> list[Classification]:
        """The rules per text, then the batch's features (word by word) and the model's scores at once."""
        lex = self.lexicon()
        prepared = [self._prepare(item, lex) for item in items]
        indexed = self.words.texts([p[-1] for p in prepared if not isinstance(p, Classification)])
        scored = iter(self.model.probabilities_indexed(indexed.row, indexed.ix, indexed.unknown))
        return [p if isinstance(p, Classification) else self._decide(item, lex, *p[:-1], *next(scored))
                for item, p in zip(items, prepared)]

    def _prepare(self, item: Item, lex: Lexicon) -> Classification | tuple:
        t = Text(item.text, lex.prefilter)  # a text without a rule's literal text is not searched with it
        flags = find_flags(t, lex, staff_note=item.channel == "branch" or is_staff_note(item.text))
        critical = find_critical(t, lex.urgency)
        high = find_urgency_rules(t, lex.urgency.high)
        norm = normalise(item.text)
        if not norm or (hangul_share(norm) < MIN_HANGUL_SHARE and not (flags or critical or high)):
            return _unreadable(item, "empty text" if not norm else "not Korean text (too few Hangul letters)")
        return t, flags, critical, high, norm

    def _decide(self, item: Item, lex: Lexicon, t: Text, flags: dict, critical: dict, high: dict,
                probs: dict, known: float) -> Classification:
        predicted = self.model.best(probs)
        topic, p_topic = predicted["topic"]
        kind, p_kind = predicted["kind"]
        sentiment, p_sentiment = predicted["sentiment"]
        affiliate, p_affiliate = predicted["affiliate"]
        if not critical and kind not in ("praise", "suggestion") and \
                self.model.p_label(probs, "urgency", "critical") >= self.model.critical_threshold:
            critical = model_critical(t, lex)  # the rules missed it; the model, anchored to a word, did not
        if critical and kind == "suggestion":
            kind = "complaint"  # a critical rule matched: money at risk now, whatever idea comes with it
        if critical.keys() == {"card_lost_or_stolen"} and not (high.keys() - CUES) and kind == "complaint" \
                and p_kind < 0.6:
            kind = "inquiry"  # reporting a lost card with no misuse is an inquiry (contract)
        if kind == "suggestion" and p_kind < 0.6 and high.keys() & INCIDENT_RULES:
            kind = "complaint"  # a specific incident that needs a remedy is a complaint (contract)
        if item.affiliate_hint:
            affiliate, p_affiliate = item.affiliate_hint, 1.0  # the channel's hint wins (contract)
        urgency, urgency_evidence = decide_urgency(t, kind, flags, critical, high)
        if urgency != "critical":
            critical = {}  # matched but not applied (praise): not recorded as applied
        forced = [CRITICAL_TOPIC[r] for r in critical if r in CRITICAL_TOPIC]
        if forced and topic not in forced:
            # money or access at risk names the problem (contract); of two, the one the model leans to
            topic = max(forced, key=lambda f: self.model.p_label(probs, "topic", f))
            p_topic = 0.9
        rules = tuple(sorted({*(f"flag:{f}" for f in flags), *(f"critical:{r}" for r in critical),
                              *((f"cue:{r}" if r in CUES else f"high:{r}") for r in high)}))
        if kind == "praise" and sentiment == "negative":
            sentiment = "positive"
        notes = ("few known words: low confidence",) if known < 0.3 else ()
        confidence = {
            "kind": round(p_kind, 3), "topic": round(p_topic, 3), "sentiment": round(p_sentiment, 3),
            "affiliate": round(p_affiliate, 3),
            "urgency": 0.95 if critical or high else round(0.5 + 0.45 * p_kind, 3),
            "flags": 0.95 if flags else 0.85,
        }
        evidence = tuple(sorted([*flags.values(), *urgency_evidence], key=lambda e: (e.start, e.field, e.label)))
        return Classification(kind=kind, topic=topic, urgency=urgency, flags=tuple(sorted(flags)),
                              affiliate=affiliate, sentiment=sentiment, confidence=confidence,
                              evidence=evidence, rules=rules, notes=notes)


def _unreadable(item: Item, reason: str) -> Classification:
    return Classification(kind="inquiry", topic="other", urgency="low", flags=(), affiliate=item.affiliate_hint or
                          "group", sentiment="neutral", notes=(reason,),
                          confidence={k: 0.1 for k in ("kind", "topic", "urgency", "sentiment", "affiliate")}
                          | {"flags": 0.5})


REPEAT_RULE = "repeat:same_customer_topic"
REPEAT_CAP = "high"  # critical is money or access at risk now, shown by a span of the text (contract), not a repeat


def raise_urgency(c: Classification, repeat_count: int) -> Classification:
    """A repeat complaint (same customer, same topic, inside the window) is one level more urgent, up to
    high: a repeated unresolved complaint is a high reason in the contract, and critical needs its evidence
    in the text. A raise is recorded as `repeat:<from>-><to>` beside REPEAT_RULE, so the text's own urgency
    stays known (`classify corrections` exports that one for training, not the raised one)."""
    if repeat_count <= 0:
        return c
    was = URGENCY_ORDER.index(c.urgency)
    level = URGENCY_ORDER[max(was, min(URGENCY_ORDER.index(REPEAT_CAP), was + 1))]
    raised = (f"repeat:{c.urgency}->{level}",) if level != c.urgency else ()
    return c.model_copy(update={"urgency": level, "repeat_count": repeat_count,
                                "rules": tuple(sorted({*c.rules, REPEAT_RULE, *raised}))})
