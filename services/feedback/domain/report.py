"""The consumer-protection office's report (pure): figures from aggregated rows.

환산건수 is complaints per 100,000 customers (per 100,000 contracts for insurance),
excluding repeat complaints and simple inquiries, counted separately for 자체민원
(received directly) and 대외민원 (transferred from the FSS)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # exclusive
    name: str

    @classmethod
    def of(cls, day: date, kind: str) -> "Period":
        if kind == "day":
            return cls(day, day + timedelta(days=1), f"{day:%Y-%m-%d}")
        if kind == "week":
            monday = day - timedelta(days=day.weekday())
            return cls(monday, monday + timedelta(days=7), f"{monday:%Y-%m-%d} 주간")
        if kind == "month":
            first = day.replace(day=1)
            nxt = (first + timedelta(days=32)).replace(day=1)
            return cls(first, nxt, f"{first:%Y-%m}")
        if kind == "quarter":
            first = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
            nxt = (first + timedelta(days=95)).replace(day=1)
            return cls(first, nxt, f"{first.year}년 {(first.month - 1) // 3 + 1}분기")
        if kind == "year":
            return cls(day.replace(month=1, day=1), day.replace(year=day.year + 1, month=1, day=1), f"{day.year}년")
        raise ValueError(f"period must be day, week, month, quarter or year, not {kind!r}")

    def previous(self) -> "Period":
        span = self.end - self.start
        return Period(self.start - span, self.start, "previous")

    def last_year(self) -> "Period":
        def back(d: date) -> date:
            try:
                return d.replace(year=d.year - 1)
            except ValueError:  # 29 February
                return d.replace(year=d.year - 1, day=28)
        return Period(back(self.start), back(self.end), "last year")


def per_100k(count: int, denominator: int) -> float:
    return round(count * 100_000 / denominator, 3) if denominator else 0.0


def nps(promoters: int, detractors: int, n: int) -> float | None:
    return round(100.0 * (promoters - detractors) / n, 1) if n else None


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _change(now: float, before: float) -> float | None:
    return round(100.0 * (now - before) / before, 1) if before else None


def affiliate_figures(row: dict, denominator: int, last_year: dict | None) -> dict:
    own = per_100k(row["own_complaints"], denominator)
    fss = per_100k(row["fss_complaints"], denominator)
    ly = last_year or {}
    ly_own = per_100k(ly.get("own_complaints", 0), denominator)
    return {
        "affiliate": row["affiliate"],
        "cases": row["cases"],
        "by_kind": {k: row[k] for k in ("complaints", "suggestions", "inquiries", "praise")},
        "converted_own_per_100k": own,          # 자체민원 환산건수
        "converted_fss_per_100k": fss,          # 대외민원 환산건수
        "converted_own_last_year": ly_own,
        "converted_own_yoy_pct": _change(own, ly_own),
        "cases_last_year": ly.get("cases", 0),
        "cases_yoy_pct": _change(row["cases"], ly.get("cases", 0)),
        "sla_met_pct": _pct(row["within_sla"], row["resolved"]),
        "resolved": row["resolved"],
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
            "sla_met_pct": _pct(row["within_sla"], row["resolved"]), "extended": row["extended"],
            "resolve_hours_p50": _round(row["resolve_p50_h"]), "csat_avg": _round(row["csat_avg"])}


def build(period: Period, rows: list[dict], last_year: list[dict], denominators: dict[str, int],
          csat: list[dict], topics: list[dict], channels: list[dict], rising: list[dict],
          teams: list[dict] = ()) -> dict:
    ly = {r["affiliate"]: r for r in last_year}
    return {
        "period": {"name": period.name, "from": period.start.isoformat(), "to": period.end.isoformat()},
        "affiliates": [affiliate_figures(r, denominators.get(r["affiliate"], 0), ly.get(r["affiliate"]))
                       for r in rows],
        "csat_distribution": {int(r["csat"]): r["n"] for r in csat},
        "topics": [{"affiliate": r["affiliate"], "topic": r["topic"], "cases": r["n"]} for r in topics],
        "channels": {r["channel"]: r["n"] for r in channels},
        "rising_topics": [{"topic": r["topic"], "cases": r["n"], "before": r["before"]} for r in rising],
        "teams": [team_figures(r) for r in teams],
    }
