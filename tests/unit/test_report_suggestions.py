"""The suggestion programme's figures in the office's report: per affiliate and for all, adoption
rate of those reviewed, adoptions by the category the review sorted them into, points paid, and
the average time to review."""

from __future__ import annotations

import csv
import io

from services.feedback.domain.report import suggestion_figures
from services.feedback.report_cli import to_csv

DAY = 86_400


def row(affiliate, category, received, adopted, rejected, points=0, review_seconds=0.0, timed=0):
    return {"affiliate": affiliate, "category": category, "received": received, "adopted": adopted,
            "rejected": rejected, "points": points, "review_seconds": review_seconds, "timed": timed}


def test_figures_per_affiliate_and_for_all():
    rows = [
        row("bank", None, 5, 0, 1, 0, 2 * DAY, 1),  # 4 awaiting review, 1 rejected without a category
        row("bank", "process", 3, 2, 1, 100_000, 12 * DAY, 3),
        row("card", "new_business", 2, 1, 0, 50_000, 5 * DAY, 1),
        row("card", "product", 1, 0, 1, 0, 1 * DAY, 1),
    ]
    sug = suggestion_figures(rows)
    bank, card = sug["affiliates"]
    assert (bank["affiliate"], bank["received"], bank["reviewed"], bank["awaiting_review"]) == ("bank", 8, 4, 4)
    assert bank["adopted"] == 2 and bank["adoption_pct"] == 50.0 and bank["points_granted"] == 100_000
    assert bank["by_category"]["process"] == {"adopted": 2, "rejected": 1}
    assert bank["by_category"]["unsorted"] == {"adopted": 0, "rejected": 1}
    assert bank["review_days_avg"] == 3.5  # 14 days over 4 reviews
    assert card["adoption_pct"] == 50.0 and card["by_category"]["new_business"]["adopted"] == 1
    every = sug["all"]
    assert (every["received"], every["adopted"], every["rejected"], every["awaiting_review"]) == (11, 3, 3, 5)
    assert every["points_granted"] == 150_000 and every["review_days_avg"] == round(20 / 6, 1)
    assert every["by_category"]["product"] == {"adopted": 0, "rejected": 1}


def test_no_suggestions_and_none_reviewed():
    assert suggestion_figures([]) == {"affiliates": [], "all": {
        "affiliate": "all", "received": 0, "adopted": 0, "rejected": 0, "points_granted": 0,
        "by_category": {c: {"adopted": 0, "rejected": 0} for c in ("product", "process", "new_business", "unsorted")},
        "reviewed": 0, "awaiting_review": 0, "adoption_pct": None, "review_days_avg": None}}
    [waiting] = suggestion_figures([row("insurance", None, 2, 0, 0)])["affiliates"]
    assert waiting["adoption_pct"] is None and waiting["awaiting_review"] == 2 and waiting["review_days_avg"] is None


def test_the_csv_carries_each_affiliates_suggestion_figures():
    report = {"affiliates": [{"affiliate": "bank", "cases": 12, "by_kind": {"complaints": 4, "suggestions": 8}},
                             {"affiliate": "insurance", "cases": 2, "by_kind": {"complaints": 2, "suggestions": 0}}],
              "suggestions": suggestion_figures([row("bank", None, 5, 0, 1, 0, 2 * DAY, 1),
                                                 row("bank", "process", 3, 2, 1, 100_000, 12 * DAY, 3)])}
    bank, insurance = csv.DictReader(io.StringIO(to_csv(report)))
    assert (bank["suggestions_received"], bank["suggestions_awaiting_review"], bank["suggestions_adopted"],
            bank["suggestions_adoption_pct"], bank["suggestions_points_granted"]) == ("8", "4", "2", "50.0", "100000")
    assert (bank["suggestions_process_adopted"], bank["suggestions_unsorted_rejected"],
            bank["suggestions_new_business_adopted"], bank["suggestions_review_days_avg"]) == ("2", "1", "0", "3.5")
    assert insurance["cases"] == "2" and insurance["suggestions_received"] == ""  # none: empty, not zero
