"""The PII detector's published figures (docs/pii-report.md) hold on the committed test sets."""

from pathlib import Path

import pytest

from shared.pii_eval import evaluate

SETS = Path(__file__).parent.parent / "fixtures" / "pii"


@pytest.mark.parametrize("name,min_spans", [("pii_testset.jsonl", 300), ("pii_handwritten.jsonl", 20)])
def test_recall_and_precision_meet_targets(name, min_spans):
    report = evaluate(SETS / name)
    assert sum(report.gold.values()) >= min_spans
    assert report.recall >= 0.99, report.lines()
    assert report.precision >= 0.95, report.lines()
    assert report.leaks == 0, report.lines()
    assert report.overexposed == 0, report.lines()  # no number shows more than its mask lets it
    assert set(report.gold) == {"rrn", "card", "account", "phone", "email", "passport", "driver_license"}
