"""The consumer-protection office's report (pure): figures from aggregated rows.

환산건수 is complaints per 100,000 customers (per 100,000 contracts for insurance),
excluding repeat complaints and simple inquiries, counted separately for 자체민원
(received directly) and 대외민원 (transferred from the FSS).

Every count, sum, average, NPS and 환산건수 is exact: the rollup it is read from holds
additive measures. Median and p90 times to acknowledge and to resolve are read from
fixed-bucket histograms (`hours_bucket`, mirrored by the SQL function of the same name):
bucket 0 is under one minute, bucket k = 1..167 is [2^((k-1)/8), 2^(k/8)) minutes (eight
per doubling, each 9.05 % wide) and bucket 168 holds everything from 2^20.875 minutes
(~3.7 years) up. `percentile_from_buckets` places the cases of a bucket evenly across it
and interpolates between neighbouring cases as `percentile_cont` does, so each estimate
is within 9.05 % of the exact percentile plus one minute (before rounding to 0.01 h);
negative times (clock skew) count as under a minute, and the open top bucket reports its
lower edge.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from shared.directory import Denominator
from shared.events import SUGGESTION_CATEGORIES


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # exclusive; the day after `through` while the period is running
    name: str
    kind: str = "custom"  # day, week, month, quarter, year (how `previous` and `last_year` step)
    through: date | None = None  # set while the period is still running: its last day so far

    @classmethod
    def of(cls, day: date, kind: str, *, today: date | None = None) -> "Period":
        """The period of `kind` holding `day`; with `today` inside it, a period so far (`through`),
        whose comparisons cover the same number of days (`previous`, `last_year`)."""
        if kind == "day":
            p = cls(day, day + timedelta(days=1), f"{day:%Y-%m-%d}", kind)
        elif kind == "week":
            monday = day - timedelta(days=day.weekday())
            p = cls(monday, monday + timedelta(days=7), f"{monday:%Y-%m-%d} 주간", kind)
        elif kind == "month":
            first = day.replace(day=1)
            nxt = (first + timedelta(days=32)).replace(day=1)
            p = cls(first, nxt, f"{first:%Y-%m}", kind)
        elif kind == "quarter":
            first = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
            nxt = (first + timedelta(days=95)).replace(day=1)
            p = cls(first, nxt, f"{first.year}년 {(first.month - 1) // 3 + 1}분기", kind)
        elif kind == "year":
            p = cls(day.replace(month=1, day=1), day.replace(year=day.year + 1, month=1, day=1), f"{day.year}년",
                    kind)
        else:
            raise ValueError(f"period must be day, week, month, quarter or year, not {kind!r}")
        if today is not None and p.start <= today < p.end - timedelta(days=1):
            return Period(p.start, today + timedelta(days=1), f"{p.name} ({today:%m-%d}까지)", kind, today)
        return p

    def _cut(self, start: date, end: date, name: str) -> "Period":
        """[start, end) as a comparison: as many days as this period has so far, when it is running."""
        return Period(start, end if self.through is None else min(end, start + (self.end - self.start)), name,
                      self.kind)

    def previous(self) -> "Period":
        """The period before: the previous calendar week, month, quarter or year (its first days
        only, as many as this one has so far, while this one is running)."""
        if self.kind in ("week", "month", "quarter", "year"):
            before = Period.of(self.start - timedelta(days=1), self.kind)
            return self._cut(before.start, before.end, "previous")
        span = self.end - self.start
        return self._cut(self.start - span, self.start, "previous")

    def last_year(self) -> "Period":
        """The same period a year before: a week is the week 52 weeks back (Monday to Sunday, as
        this one); the others the same dates. While this period is running, the same days of it."""
        if self.kind == "week":
            start = self.start - timedelta(weeks=52)
            return self._cut(start, start + timedelta(days=7), "last year")

        try:
            start = self.start.replace(year=self.start.year - 1)
        except ValueError:  # 29 February: the 28th, a year before
            start = self.start.replace(year=self.start.year - 1, day=28)
        if self.kind == "day":
            return Period(start, start + timedelta(days=1), "last year", self.kind)
        # the whole calendar period a year before, cut to as many days as this one has so far (its end is
        # not moved back a year itself: an end on 29 February would lose or gain a day)
        before = Period.of(start, self.kind)
        return self._cut(before.start, before.end, "last year")


BUCKETS_PER_DOUBLING = 8
LAST_BUCKET = 168


def hours_bucket(seconds: float) -> int:
    """The histogram bucket of a time in seconds (as the SQL function feedback.hours_bucket)."""
    if seconds < 60:
        return 0
    return min(LAST_BUCKET, 1 + math.floor(BUCKETS_PER_DOUBLING * math.log(seconds / 60) / math.log(2)))


def bucket_bounds(k: int) -> tuple[float, float]:
    """[low, high) of bucket k in seconds; the last bucket is open (high = inf)."""
    if k == 0:
        return 0.0, 60.0
    low = 60 * 2 ** ((k - 1) / BUCKETS_PER_DOUBLING)
    return low, math.inf if k >= LAST_BUCKET else 60 * 2 ** (k / BUCKETS_PER_DOUBLING)


def percentile_from_buckets(hist: Mapping[int, int], p: float) -> float | None:
    """Hours at fraction p (0..1) of a histogram {bucket: cases}, or None without cases.

    As percentile_cont: position p·(n-1) among the cases in order, interpolating between
    the two neighbours; a bucket's c cases are taken to sit at its (i + ½)/c points."""
    filled = sorted((k, c) for k, c in hist.items() if c > 0)
    n = sum(c for _, c in filled)
    if not n:
        return None
    pos = p * (n - 1)
    i = math.floor(pos)
    low = _case_at(filled, i)
    frac = pos - i
    value = low if frac == 0 else low + frac * (_case_at(filled, i + 1) - low)
    return value / 3600


def _case_at(filled: list[tuple[int, int]], i: int) -> float:
    seen = 0
    for k, c in filled:
        if i < seen + c:
            low, high = bucket_bounds(k)
            return low if math.isinf(high) else low + (high - low) * (i - seen + 0.5) / c
        seen += c
    raise IndexError(i)


def with_overdue(rows: list[dict], teams: list[dict], overdue: Iterable[Mapping]) -> None:
    """Add the open cases already past their deadline (affiliate, team, n) to the affiliate and team
    rows: they count against SLA compliance as much as a case resolved late."""
    by_affiliate: Counter = Counter()
    by_team: Counter = Counter()
    for o in overdue:
        by_affiliate[o["affiliate"]] += o["n"]
        by_team[(o["affiliate"], o["team"])] += o["n"]
    for r in rows:
        r["open_overdue"] = by_affiliate[r["affiliate"]]
    for t in teams:
        t["open_overdue"] = by_team[(t["affiliate"], t["team"])]


def with_times(rows: list[dict], teams: list[dict], hours: Iterable[Mapping]) -> None:
    """Add median and p90 hours to acknowledge and to resolve to the affiliate rows, and
    the median hours to resolve to the team rows, from the period's summed histogram rows
    (affiliate, team, bucket, ack, resolve)."""
    ack: dict = defaultdict(Counter)
    res: dict = defaultdict(Counter)
    team_res: dict = defaultdict(Counter)
    for h in hours:
        a, t, k = h["affiliate"], h["team"], h["bucket"]
        if a is not None:
            ack[a][k] += h["ack"]
            res[a][k] += h["resolve"]
        if t is not None:
            team_res[(a, t)][k] += h["resolve"]
    for r in rows:
        a = r["affiliate"]
        r["ack_p50_h"] = percentile_from_buckets(ack.get(a, {}), 0.5)
        r["ack_p90_h"] = percentile_from_buckets(ack.get(a, {}), 0.9)
        r["resolve_p50_h"] = percentile_from_buckets(res.get(a, {}), 0.5)
        r["resolve_p90_h"] = percentile_from_buckets(res.get(a, {}), 0.9)
    for r in teams:
        r["resolve_p50_h"] = percentile_from_buckets(team_res.get((r["affiliate"], r["team"]), {}), 0.5)


def per_100k(count: int, denominator: int) -> float:
    return round(count * 100_000 / denominator, 3) if denominator else 0.0


def nps(promoters: int, detractors: int, n: int) -> float | None:
    return round(100.0 * (promoters - detractors) / n, 1) if n else None


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _change(now: float, before: float) -> float | None:
    return round(100.0 * (now - before) / before, 1) if before else None


def affiliate_figures(row: dict, denominator: int, last_year: dict | None, last_year_denominator: int) -> dict:
    """`denominator` is the period's customers (or contracts), `last_year_denominator` last year's:
    each year's 환산건수 is divided by its own year's base."""
    own = per_100k(row["own_complaints"], denominator)
    fss = per_100k(row["fss_complaints"], denominator)
    ly = last_year or {}
    ly_own = per_100k(ly.get("own_complaints", 0), last_year_denominator)
    ly_fss = per_100k(ly.get("fss_complaints", 0), last_year_denominator)
    return {
        "affiliate": row["affiliate"],
        "cases": row["cases"],
        "by_kind": {k: row[k] for k in ("complaints", "suggestions", "inquiries", "praise")},
        "own_complaints": row["own_complaints"],  # 자체민원, duplicates counted once
        "fss_complaints": row["fss_complaints"],  # 대외민원 (transferred by the FSS), likewise
        "repeat_complaints": row.get("repeat_complaints", 0),  # 반복 민원: on record or in the customer's words
        "converted_own_per_100k": own,          # 자체민원 환산건수
        "converted_fss_per_100k": fss,          # 대외민원 환산건수
        "converted_own_last_year": ly_own,
        "converted_own_yoy_pct": _change(own, ly_own),
        "converted_fss_last_year": ly_fss,
        "converted_fss_yoy_pct": _change(fss, ly_fss),
        "cases_last_year": ly.get("cases", 0),
        "cases_yoy_pct": _change(row["cases"], ly.get("cases", 0)),
        # resolved within the deadline, out of those resolved and those still open past it
        "sla_met_pct": _pct(row["within_sla"], row["resolved"] + row.get("open_overdue", 0)),
        "resolved": row["resolved"],
        "open_overdue": row.get("open_overdue", 0),
        "extended": row["extended"],
        "ack_hours_p50": _round(row["ack_p50_h"]), "ack_hours_p90": _round(row["ack_p90_h"]),
        "resolve_hours_p50": _round(row["resolve_p50_h"]), "resolve_hours_p90": _round(row["resolve_p90_h"]),
        "csat_avg": _round(row["csat_avg"]),
        "nps": nps(row["promoters"], row["detractors"], row["nps_n"]),
        "ces_avg": _round(row["ces_avg"]),
        "repeat_complaint_pct": _pct(row["repeat_complaints"], row["complaints"]),
        "alerts": int(row["alerts"] or 0),
    }


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 2)


def team_figures(row: dict) -> dict:
    return {"affiliate": row["affiliate"], "team": row["team"], "cases": row["cases"], "resolved": row["resolved"],
            "sla_met_pct": _pct(row["within_sla"], row["resolved"] + row.get("open_overdue", 0)),
            "open_overdue": row.get("open_overdue", 0), "extended": row["extended"],
            "resolve_hours_p50": _round(row["resolve_p50_h"]), "csat_avg": _round(row["csat_avg"])}


UNSORTED = "unsorted"  # reviewed without a category (a console that does not send one)


def suggestion_figures(rows: Iterable[Mapping]) -> dict:
    """The suggestion programme (each affiliate reviews the suggestions sent to it; adopted ones are
    rewarded once): per affiliate and for all, from rows (affiliate, category, received, adopted,
    rejected, points, review_seconds, timed) of the period's suggestions by receipt date. Adoption
    rate is of those reviewed; suggestions not yet reviewed are counted as awaiting review."""
    per: dict[str, dict] = {}

    def blank(affiliate: str) -> dict:
        return {"affiliate": affiliate, "received": 0, "adopted": 0, "rejected": 0, "points_granted": 0,
                "by_category": {c: {"adopted": 0, "rejected": 0} for c in (*SUGGESTION_CATEGORIES, UNSORTED)},
                "_seconds": 0.0, "_timed": 0}

    for r in rows:
        for key in (r["affiliate"], "all"):
            f = per.setdefault(key, blank(key))
            f["received"] += r["received"]
            f["adopted"] += r["adopted"]
            f["rejected"] += r["rejected"]
            f["points_granted"] += int(r["points"])
            category = f["by_category"][r["category"] or UNSORTED]
            category["adopted"] += r["adopted"]
            category["rejected"] += r["rejected"]
            f["_seconds"] += float(r["review_seconds"])
            f["_timed"] += r["timed"]

    def done(f: dict) -> dict:
        reviewed = f["adopted"] + f["rejected"]
        seconds, timed = f.pop("_seconds"), f.pop("_timed")
        return {**f, "reviewed": reviewed, "awaiting_review": f["received"] - reviewed,
                "adoption_pct": _pct(f["adopted"], reviewed),
                "review_days_avg": round(seconds / timed / 86400, 1) if timed else None}

    every = per.pop("all", None)
    return {"affiliates": [done(per[a]) for a in sorted(per)], "all": done(every or blank("all"))}


CONSULTATION_SUMS = ("surveyed", "answered", "csat_n", "csat_sum", "nps_n", "promoters", "detractors", "ces_n",
                     "ces_sum")


def consultation_figures(rows: Iterable[Mapping]) -> dict:
    """Consultations that were not cases (seed 002: every consultation can be rated), by the day they
    ended: per affiliate, with each channel, and for all, from rows (affiliate, channel, CONSULTATION_SUMS).
    Response rate is of those surveyed; averages and NPS are of those who answered the question."""
    sums: dict[tuple[str, str | None], Counter] = defaultdict(Counter)
    for r in rows:
        for key in ((r["affiliate"], r["channel"]), (r["affiliate"], None), ("all", None)):
            sums[key].update({k: int(r[k]) for k in CONSULTATION_SUMS})

    def figures(c: Counter) -> dict:
        return {"surveyed": c["surveyed"], "answered": c["answered"],
                "response_pct": _pct(c["answered"], c["surveyed"]),
                "csat_avg": _round(c["csat_sum"] / c["csat_n"]) if c["csat_n"] else None,
                "nps": nps(c["promoters"], c["detractors"], c["nps_n"]),
                "ces_avg": _round(c["ces_sum"] / c["ces_n"]) if c["ces_n"] else None}

    channels: dict[str, dict] = defaultdict(dict)
    for a, ch in sorted(k for k in sums if k[1] is not None):
        channels[a][ch] = figures(sums[(a, ch)])
    return {"affiliates": [{"affiliate": a, **figures(sums[(a, None)]), "by_channel": channels[a]}
                           for a in sorted(channels)],
            "all": {"affiliate": "all", **figures(sums[("all", None)])}}


def _span(p: Period) -> dict:
    return {"from": p.start.isoformat(), "to": p.end.isoformat()}


def build(period: Period, rows: list[dict], last_year: list[dict], denominators: dict[str, Denominator],
          csat: list[dict], topics: list[dict], channels: list[dict], rising: list[dict],
          teams: list[dict] = (), suggestions: list[dict] = (), consultations: list[dict] = ()) -> dict:
    ly = {r["affiliate"]: r for r in last_year}
    year, ly_year = period.start.year, period.last_year().start.year

    def base(affiliate: str, y: int) -> int:
        d = denominators.get(affiliate)
        return d.for_year(y) if d else 0

    return {
        "period": {"name": period.name, "from": period.start.isoformat(), "to": period.end.isoformat(),
                   # a running period: figures so far, compared with the same days of the periods before
                   "through": period.through.isoformat() if period.through else None,
                   "compared_with": {"previous": _span(period.previous()), "last_year": _span(period.last_year())}},
        "affiliates": [affiliate_figures(r, base(r["affiliate"], year), ly.get(r["affiliate"]),
                                         base(r["affiliate"], ly_year)) for r in rows],
        "csat_distribution": {int(r["csat"]): r["n"] for r in csat},
        "topics": [{"affiliate": r["affiliate"], "topic": r["topic"], "cases": r["n"]} for r in topics],
        "channels": {r["channel"]: r["n"] for r in channels},
        "rising_topics": [{"topic": r["topic"], "cases": r["n"], "before": r["before"]} for r in rising],
        "teams": [team_figures(r) for r in teams],
        "suggestions": suggestion_figures(suggestions),
        "consultations": consultation_figures(consultations),
    }
