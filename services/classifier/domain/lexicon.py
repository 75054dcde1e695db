"""The watch-word lexicon: operator data, validated and compiled on load."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.datafiles import load_yaml
from shared.events import FLAGS, Kind, Topic

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


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class Guards(_Strict):
    impersonation: Patterns
    negation: Patterns
    window: int = Field(14, ge=4, le=60)

    _c = field_validator("impersonation", "negation", mode="before")(lambda v: _compile(v))


class FlagRule(_Strict):
    terms: Patterns = Field(min_length=1)
    action: Patterns = ()
    action_before: Patterns = ()

    _c = field_validator("terms", "action", "action_before", mode="before")(lambda v: _compile(v))


class Urgency(_Strict):
    critical: dict[str, Patterns]
    high: dict[str, Patterns]

    @field_validator("critical", "high", mode="before")
    @classmethod
    def _rules(cls, v: dict) -> dict:
        return {name: _compile(p) for name, p in v.items()}


class Lexicon(_Strict):
    version: str = Field(min_length=1)
    guards: Guards
    flags: dict[str, FlagRule]
    urgency: Urgency
    topics: dict[Topic, Patterns]
    kinds: dict[Kind, Patterns]
    sentiment: dict[str, Patterns]
    affiliates: dict[str, Patterns]

    @field_validator("topics", "kinds", "sentiment", "affiliates", mode="before")
    @classmethod
    def _lists(cls, v: dict) -> dict:
        return {k: _compile(p) for k, p in v.items()}

    @model_validator(mode="after")
    def _complete(self) -> "Lexicon":
        missing = set(FLAGS) - set(self.flags)
        unknown = set(self.flags) - set(FLAGS)
        if missing or unknown:
            raise ValueError(f"flags must be exactly {sorted(FLAGS)}; missing {sorted(missing)}, unknown {sorted(unknown)}")
        for name, got, want in (("topics", self.topics, Topic.__args__), ("kinds", self.kinds, Kind.__args__)):
            if set(got) != set(want):
                raise ValueError(f"{name} must list every code {sorted(want)}; missing {sorted(set(want) - set(got))}")
        if set(self.sentiment) != {"negative", "positive"}:
            raise ValueError("sentiment needs exactly 'negative' and 'positive' lists")
        return self


def load_lexicon(path: Path = DEFAULT_LEXICON) -> Lexicon:
    return load_yaml(path, Lexicon)
