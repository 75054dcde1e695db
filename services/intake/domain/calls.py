"""Live calls (pure): assembling segments, and deciding whether a call becomes a case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.events import Turn

SPEAKER = {"customer": "customer", "agent": "agent"}


@dataclass(frozen=True)
class Segment:
    seq: int
    speaker: str
    text: str
    ts: datetime


def assemble(segments: list[Segment]) -> tuple[Turn, ...]:
    """In seq order, one turn per segment; a duplicate seq keeps its first copy."""
    seen: set[int] = set()
    turns = []
    for s in sorted(segments, key=lambda s: s.seq):
        if s.seq in seen or not s.text.strip():
            continue  # a blank segment (silence) is no turn: a turn has words
        seen.add(s.seq)
        turns.append(Turn(speaker=SPEAKER[s.speaker], text=s.text, at=s.ts))
    return tuple(turns)


def opens_case(outcome: str, alerts: set[str]) -> bool:
    """A call becomes a case when the agent wrapped it up as a VOC, or when live
    screening raised an alert during it."""
    return outcome in ("complaint", "suggestion", "inquiry", "praise") or bool(alerts)


def case_text(summary: str | None, turns: tuple[Turn, ...]) -> str:
    if summary and summary.strip():
        return summary
    said = " ".join(t.text for t in turns if t.speaker == "customer")
    return said or " ".join(t.text for t in turns) or "(통화 내용 없음)"
