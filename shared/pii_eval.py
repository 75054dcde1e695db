"""Precision and recall of the PII detector on a labelled set (JSONL of
{text, spans: [{kind, start, end}]}). A detected span counts as correct when it
overlaps a labelled one; a labelled span is found when some detection overlaps
it. `kind_accuracy` says how often the overlapping detection also had the right kind."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from shared.pii import find_pii, mask_text


@dataclass
class PiiReport:
    texts: int = 0
    gold: Counter = field(default_factory=Counter)
    found: Counter = field(default_factory=Counter)
    kind_right: int = 0
    predicted: int = 0
    false_positives: list[tuple[str, str]] = field(default_factory=list)
    misses: list[tuple[str, str]] = field(default_factory=list)
    leaks: int = 0  # labelled values whose digits survive masking
    overexposed: int = 0  # labelled numbers masked with fewer digits hidden than their kind's mask hides

    @property
    def recall(self) -> float:
        return sum(self.found.values()) / max(1, sum(self.gold.values()))

    @property
    def precision(self) -> float:
        return (self.predicted - len(self.false_positives)) / max(1, self.predicted)

    def lines(self) -> list[str]:
        out = [f"texts {self.texts}, labelled spans {sum(self.gold.values())}, detections {self.predicted}",
               f"recall {self.recall:.4f}  precision {self.precision:.4f}  "
               f"kind accuracy {self.kind_right / max(1, sum(self.found.values())):.4f}  leaks after masking {self.leaks}  "
               f"shown beyond their mask {self.overexposed}",
               "", "| kind | labelled | found | recall |", "|---|---|---|---|"]
        for kind in sorted(self.gold):
            out.append(f"| {kind} | {self.gold[kind]} | {self.found[kind]} | {self.found[kind] / self.gold[kind]:.3f} |")
        if self.misses:
            out += ["", "missed:"] + [f"- {k}: {t!r}" for k, t in self.misses]
        if self.false_positives:
            out += ["", "false positives:"] + [f"- {k}: {t!r}" for k, t in self.false_positives]
        return out


def evaluate(path: Path) -> PiiReport:
    report = PiiReport()
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        text, gold = row["text"], row["spans"]
        found = find_pii(text)
        report.texts += 1
        report.predicted += len(found)
        for g in gold:
            report.gold[g["kind"]] += 1
            hits = [f for f in found if f.start < g["end"] and g["start"] < f.end]
            if hits:
                report.found[g["kind"]] += 1
                report.kind_right += any(h.kind == g["kind"] for h in hits)
            else:
                report.misses.append((g["kind"], g["text"]))
        for f in found:
            if not any(f.start < g["end"] and g["start"] < f.end for g in gold):
                report.false_positives.append((f.kind, f.text))
        masked = mask_text(text)
        report.leaks += sum(1 for g in gold if g["text"] in masked)
        if len(masked) == len(text):  # masks keep the text's length but for some e-mails
            report.overexposed += sum(1 for g in gold if masked[g["start"]:g["end"]].count("*") < _hidden(g))
    return report


def _hidden(gold: dict) -> int:
    """How many characters of a labelled value its kind's mask hides (pii._mask): a card shows its first 6
    and last 4 digits, a phone all but its last 4, an account its last 3, an RRN its first 7."""
    digits = sum(c.isdigit() for c in gold["text"])
    return {"card": digits - 10, "rrn": digits - 7, "phone": 4, "account": digits - 3, "driver_license": 8,
            "passport": len(gold["text"]) - 4}.get(gold["kind"], 0)
