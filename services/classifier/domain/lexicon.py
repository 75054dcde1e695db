"""The watch-word lexicon: operator data, validated and compiled on load.

It holds the auditable rules only (flags, urgency, live-call emotion); topic, kind,
sentiment and affiliate come from the statistical model (domain/model.py)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from services.classifier.domain.prefilter import Prefilter
from shared.datafiles import load_yaml
from shared.events import FLAGS

DEFAULT_LEXICON = Path(__file__).resolve().parent.parent / "data" / "lexicon.yaml"

Patterns = tuple[re.Pattern, ...]


def _compile(values: list[str]) -> Patterns:
    out = []
    for v in values:
        try:
            out.append(re.compile(v, re.IGNORECASE))
        except re.error as exc:
            raise ValueError(f"pattern {v!r} does not compile: {exc}") from None
    return tuple(out)


GUARD_PREFIX = "not_"  # an urgency group named not_<rule> (or not_any) guards hits, it is not a rule itself


# the flags a live call raises an alert for (domain/alerts.py: ALERT_FLAGS); a vulnerability cue
# raises none, so live screening does not search for it
SCREENED_FLAGS = ("regulator", "media", "legal", "abusive")


def one_of(patterns: Patterns) -> re.Pattern:
    """Patterns as one alternation, to rule a whole group out with a single search."""
    return re.compile("|".join(f"(?:{p.pattern})" for p in patterns), re.IGNORECASE)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class Guards(_Strict):
    impersonation: Patterns
    negation: Patterns
    # after a watch word: someone else told or advised the customer to escalate ("신고하라고", "신고하셔야
    # 한다고"); it cancels the hit unless the customer then commits to it (FlagRule.commitment, rules.py)
    prompted: Patterns = ()
    window: int = Field(14, ge=4, le=60)

    _c = field_validator("impersonation", "negation", "prompted", mode="before")(lambda v: _compile(v))


class FlagRule(_Strict):
    terms: Patterns = Field(min_length=1)
    action: Patterns = ()
    action_before: Patterns = ()
    window: int | None = Field(None, ge=4, le=80)  # how far after a term its action may be (default guards.window)
    # the customer's own escalation verb ("넣겠습니다", "신고했어요"): in a later clause, it restores a hit that
    # staff or someone else's suggestion cancelled ("직원이 금감원에 민원 넣으라고 하던데 넣겠습니다", rules.py)
    commitment: Patterns = ()

    _c = field_validator("terms", "action", "action_before", "commitment", mode="before")(lambda v: _compile(v))


class Urgency(_Strict):
    critical: dict[str, Patterns]
    high: dict[str, Patterns]
    # words that name money or access at risk (분실, 결제, 이체, 해킹 ...): when the model, not a
    # rule, finds a text critical, the first unguarded anchor is the evidence; no anchor, no call
    anchors: Patterns = ()
    # unauthorized_charge on an account or a trade (account_words near its hit, no card_words): an account
    # taken over, fraud_phishing and a 지급정지 request, not a card's charges (rules.find_critical)
    card_words: Patterns = ()
    account_words: Patterns = ()

    _a = field_validator("anchors", "card_words", "account_words", mode="before")(lambda v: _compile(v))

    @field_validator("critical", "high", mode="before")
    @classmethod
    def _rules(cls, v: dict) -> dict:
        return {name: _compile(p) for name, p in v.items()}


class Emotion(_Strict):
    """Live calls: a customer turn matching `anger` is an angry turn; after
    `alert_after_turns` of them in one call the supervisor is alerted."""

    anger: Patterns = Field(min_length=1)
    alert_after_turns: int = Field(3, ge=1, le=50)

    _c = field_validator("anger", mode="before")(lambda v: _compile(v))


class Lexicon(_Strict):
    version: str = Field(min_length=1)
    guards: Guards
    flags: dict[str, FlagRule]
    urgency: Urgency
    emotion: Emotion
    _screen: Prefilter = PrivateAttr()
    _prefilter: Prefilter = PrivateAttr()

    @property
    def prefilter(self) -> Prefilter:
        """The literal text each of the lexicon's patterns requires: a text is searched only with
        the patterns it can match (domain/prefilter.py)."""
        return self._prefilter

    @property
    def screen(self) -> Prefilter:
        """The prefilter of every alerting flag's term (SCREENED_FLAGS), critical rule and anger
        cue: live screening looks closer only at turns one of them matches (domain/alerts.py)."""
        return self._screen

    @model_validator(mode="after")
    def _complete(self) -> "Lexicon":
        missing = set(FLAGS) - set(self.flags)
        unknown = set(self.flags) - set(FLAGS)
        if missing or unknown:
            raise ValueError(f"flags must be exactly {sorted(FLAGS)}; missing {sorted(missing)}, unknown {sorted(unknown)}")
        terms = tuple(p for rule in self.flags.values() for p in rule.terms)
        critical = tuple(p for name, pats in self.urgency.critical.items() if not name.startswith(GUARD_PREFIX)
                         for p in pats)
        high = tuple(p for name, pats in self.urgency.high.items() if not name.startswith(GUARD_PREFIX) for p in pats)
        live = tuple(p for flag, rule in self.flags.items() if flag in SCREENED_FLAGS for p in rule.terms)
        self._screen = Prefilter(live + critical + self.emotion.anger)
        self._prefilter = Prefilter(self.patterns())
        return self

    def patterns(self) -> Patterns:
        """Every pattern object in the lexicon (equal patterns in two groups may be two objects)."""
        groups = [self.guards.impersonation, self.guards.negation, self.guards.prompted, self.urgency.anchors,
                  self.urgency.card_words, self.urgency.account_words, self.emotion.anger,
                  *(g for rule in self.flags.values()
                    for g in (rule.terms, rule.action, rule.action_before, rule.commitment)),
                  *self.urgency.critical.values(), *self.urgency.high.values()]
        return tuple({id(p): p for g in groups for p in g}.values())


def load_lexicon(path: Path = DEFAULT_LEXICON) -> Lexicon:
    return load_yaml(path, Lexicon)
