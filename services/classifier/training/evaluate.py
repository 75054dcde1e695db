"""`moksori classify eval FILE`: the full classifier (model and rules) against a
labelled file; per-class precision/recall/F1, macro-F1, the topic confusion matrix,
per-flag precision/recall and critical-urgency recall, with the issue's targets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from services.classifier.training.corpus import Example
from shared.events import FLAGS, Classification

FIELDS = ("topic", "kind", "urgency", "sentiment", "affiliate")
TARGETS = {"topic macro-F1": 0.85, "critical recall": 0.95, "flag precision": 0.9, "flag recall": 0.95}


@dataclass(frozen=True)
class ClassScore:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def per_class(gold: Sequence[str], pred: Sequence[str]) -> list[ClassScore]:
    out = []
    for label in sorted(set(gold) | set(pred)):
        tp = sum(g == p == label for g, p in zip(gold, pred))
        fp = sum(p == label and g != label for g, p in zip(gold, pred))
        fn = sum(g == label and p != label for g, p in zip(gold, pred))
        out.append(ClassScore(label, *_prf(tp, fp, fn), support=sum(g == label for g in gold)))
    return out


def macro_f1(scores: list[ClassScore]) -> float:
    present = [s for s in scores if s.support]
    return sum(s.f1 for s in present) / len(present) if present else 0.0


@dataclass(frozen=True)
class Report:
    n: int
    fields: dict[str, list[ClassScore]]
    accuracy: dict[str, float]
    confusion: dict[tuple[str, str], int]
    flags: dict[str, ClassScore]
    critical: ClassScore
    errors: list[tuple[Example, Classification]]

    def macro(self, field: str) -> float:
        return macro_f1(self.fields[field])

    def checks(self) -> list[tuple[str, float, float, bool]]:
        rows = [("topic macro-F1", self.macro("topic"), TARGETS["topic macro-F1"]),
                ("critical recall", self.critical.recall, TARGETS["critical recall"])]
        for f, s in self.flags.items():
            rows += [(f"{f} precision", s.precision, TARGETS["flag precision"]),
                     (f"{f} recall", s.recall, TARGETS["flag recall"])]
        return [(name, value, target, value >= target) for name, value, target in rows]


def evaluate(examples: Sequence[Example], predicted: Sequence[Classification]) -> Report:
    fields, accuracy = {}, {}
    for f in FIELDS:
        gold = [getattr(e, f) for e in examples]
        pred = [getattr(c, f) for c in predicted]
        fields[f] = per_class(gold, pred)
        accuracy[f] = sum(g == p for g, p in zip(gold, pred)) / max(1, len(gold))
    confusion = Counter((e.topic, c.topic) for e, c in zip(examples, predicted))
    flags = {}
    for flag in FLAGS:
        tp = sum(flag in e.flags and flag in c.flags for e, c in zip(examples, predicted))
        fp = sum(flag not in e.flags and flag in c.flags for e, c in zip(examples, predicted))
        fn = sum(flag in e.flags and flag not in c.flags for e, c in zip(examples, predicted))
        flags[flag] = ClassScore(flag, *_prf(tp, fp, fn), support=tp + fn)
    crit = [(e.urgency == "critical", c.urgency == "critical") for e, c in zip(examples, predicted)]
    tp, fp, fn = (sum(g and p for g, p in crit), sum(p and not g for g, p in crit), sum(g and not p for g, p in crit))
    critical = ClassScore("critical", *_prf(tp, fp, fn), support=tp + fn)
    errors = [(e, c) for e, c in zip(examples, predicted)
              if e.topic != c.topic or set(e.flags) != set(c.flags) or (e.urgency == "critical") != (c.urgency == "critical")]
    return Report(len(examples), fields, accuracy, dict(confusion), flags, critical, errors)


def markdown(r: Report, title: str, about: str) -> str:
    out = [f"# {title}", "", about, "", "## Targets", "", "| measure | value | target | met |", "|---|---:|---:|---|"]
    out += [f"| {n} | {v:.3f} | {t:.2f} | {'yes' if ok else '**no**'} |" for n, v, t, ok in r.checks()]
    out += ["", "## Fields", "", "| field | macro-F1 | accuracy |", "|---|---:|---:|"]
    out += [f"| {f} | {r.macro(f):.3f} | {r.accuracy[f]:.3f} |" for f in FIELDS]
    for f in FIELDS:
        out += ["", f"### {f}", "", "| label | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
        out += [f"| {s.label} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | {s.support} |" for s in r.fields[f]]
    out += ["", "## Flags (rules)", "", "| flag | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    out += [f"| {s.label} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | {s.support} |" for s in r.flags.values()]
    c = r.critical
    out += ["", f"Critical urgency: precision {c.precision:.3f}, recall {c.recall:.3f} (support {c.support}).", ""]
    labels = sorted({g for g, _ in r.confusion} | {p for _, p in r.confusion})
    short = {lab: lab[:8] for lab in labels}
    out += ["## Topic confusion (rows: gold, columns: predicted)", "",
            "| gold \\ predicted | " + " | ".join(short[lab] for lab in labels) + " |",
            "|---|" + "---:|" * len(labels)]
    for g in labels:
        out.append(f"| {g} | " + " | ".join(str(r.confusion.get((g, p), "")) for p in labels) + " |")
    return "\n".join(out) + "\n"
