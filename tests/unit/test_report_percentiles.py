"""The report's time histograms: bucket layout and the percentile estimate's documented bound."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from services.feedback.domain.report import (
    LAST_BUCKET, bucket_bounds, hours_bucket, percentile_from_buckets, with_times,
)


def exact_percentile(values: list[float], p: float) -> float:
    """PostgreSQL's percentile_cont."""
    s = sorted(values)
    pos = p * (len(s) - 1)
    i = math.floor(pos)
    return s[i] if i + 1 >= len(s) else s[i] + (pos - i) * (s[i + 1] - s[i])


def estimate(seconds: list[float], p: float) -> float | None:
    return percentile_from_buckets(Counter(hours_bucket(s) for s in seconds), p)


def test_buckets_tile_the_time_axis():
    assert hours_bucket(-5) == 0 and hours_bucket(0) == 0 and hours_bucket(59.99) == 0
    assert hours_bucket(60) == 1 and hours_bucket(120) == 9 and hours_bucket(3600) == 1 + math.floor(8 * math.log2(60)) == 48
    assert hours_bucket(10 ** 12) == LAST_BUCKET
    for k in range(LAST_BUCKET):
        low, high = bucket_bounds(k)
        assert bucket_bounds(k + 1)[0] == pytest.approx(high)
        assert hours_bucket(low * 1.0001 if low else 0) == k and hours_bucket(high * 0.9999) == k
        if k:
            assert high / low == pytest.approx(2 ** (1 / 8))   # 9.05 % wide
    assert math.isinf(bucket_bounds(LAST_BUCKET)[1])


def test_no_cases_no_percentile_and_one_case_is_its_bucket_middle():
    assert percentile_from_buckets({}, 0.5) is None and percentile_from_buckets({3: 0}, 0.9) is None
    low, high = bucket_bounds(hours_bucket(7200))
    assert percentile_from_buckets({hours_bucket(7200): 1}, 0.5) == pytest.approx((low + high) / 2 / 3600)
    assert percentile_from_buckets({LAST_BUCKET: 2}, 0.5) == bucket_bounds(LAST_BUCKET)[0] / 3600


@pytest.mark.parametrize("seed", range(40))
def test_estimate_is_within_nine_percent_plus_a_minute_of_percentile_cont(seed):
    rnd = random.Random(seed)
    n = rnd.choice([1, 2, 3, 5, 10, 57, 400, 3000])
    draw = rnd.choice([lambda: rnd.expovariate(1 / 3600 / 6), lambda: rnd.lognormvariate(9, 2),
                       lambda: rnd.uniform(0, 90), lambda: rnd.choice([600, 3600, 86400]) * rnd.uniform(.99, 1.01)])
    values = [draw() for _ in range(n)]
    for p in (0.5, 0.9, 0.1, 0.99):
        exact = exact_percentile(values, p) / 3600
        assert abs(estimate(values, p) - exact) <= 0.0905 * exact + 1 / 60 + 1e-9, (n, p)


def test_with_times_sums_teams_into_affiliates_and_keeps_groups_apart():
    def h(affiliate, team, seconds, ack, resolve):
        return {"affiliate": affiliate, "team": team, "bucket": hours_bucket(seconds), "ack": ack, "resolve": resolve}

    hours = [h("card", "general", 3600, 3, 0), h("card", "fraud_response", 3600, 1, 2), h(None, "general", 99999, 9, 9),
             h("card", None, 36000, 0, 2)]
    rows = [{"affiliate": "card"}, {"affiliate": "bank"}]
    teams = [{"affiliate": "card", "team": "general"}, {"affiliate": "card", "team": "fraud_response"},
             {"affiliate": None, "team": "general"}]
    with_times(rows, teams, hours)
    one_hour = percentile_from_buckets({hours_bucket(3600): 4}, 0.5)
    assert rows[0]["ack_p50_h"] == one_hour   # 3 + 1 acknowledgements, both teams
    assert rows[0]["resolve_p50_h"] == percentile_from_buckets({hours_bucket(3600): 2, hours_bucket(36000): 2}, .5)
    assert rows[1] == {"affiliate": "bank", "ack_p50_h": None, "ack_p90_h": None, "resolve_p50_h": None,
                       "resolve_p90_h": None}
    assert teams[0]["resolve_p50_h"] is None and teams[1]["resolve_p50_h"] == pytest.approx(one_hour, rel=.1)
    assert teams[2]["resolve_p50_h"] > 20   # the case with no affiliate has its team row, not an affiliate's
