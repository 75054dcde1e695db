"""The operator dashboard: a page served by feedback that polls `/v1/dashboard` every 5 s.

Today's volume by affiliate and topic, live critical and high alerts, SLA breaches and
the oldest unacknowledged case per queue, two weeks of CSAT/NPS/CES, and 환산건수 by
affiliate for the month so far against the same days last year. Charts are drawn with
uPlot, served from this service (no CDN). No personal data is shown: texts are never
in these numbers."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import HTMLResponse

from services.feedback import report_cli
from services.feedback.adapters import dashboard_sql as q
from services.feedback.domain.report import nps
from shared.bizcal import KST
from shared.runtime import runtime_of
from shared.static_files import serve_static
from shared.team_keys import key_digest

router = APIRouter(tags=["dashboard"])
KO = report_cli.AFFILIATE_KO


STATIC = Path(__file__).resolve().parent.parent / "static"


def office_key(request: Request, x_api_key: Annotated[str | None, Header(
        description="a key of the consumer-protection office or the operators (DASHBOARD_KEYS)")] = None) -> None:
    """Every affiliate's numbers and alerts: for group keys only. The port also takes the affiliates'
    consulting systems (POST /v1/consultations), which must not read other affiliates' alerts."""
    keys: dict[str, str] | None = request.app.state.dashboard_keys
    if keys is None:
        raise HTTPException(401, "the dashboard's numbers are not served here: DASHBOARD_KEYS is not set")
    if not x_api_key or key_digest(x_api_key) not in keys:
        raise HTTPException(401, "a dashboard key (DASHBOARD_KEYS) is required in X-Api-Key")


@router.get("/v1/dashboard", summary="The operator dashboard's numbers (the page polls this every 5 s)",
            dependencies=[Depends(office_key)],
            responses={401: {"description": "no dashboard key, or not one of DASHBOARD_KEYS, or none is set"}})
async def dashboard_data(request: Request) -> dict:
    now = datetime.now(KST)
    today = now.date()
    pool = runtime_of(request).pool
    async with pool.acquire() as conn:
        volume = await conn.fetch(q.TODAY_BY_AFFILIATE_TOPIC, today)
        alerts = await conn.fetch(q.RECENT_ALERTS)
        breaches = await conn.fetch(q.BREACHES_TODAY, now.replace(hour=0, minute=0, second=0, microsecond=0))
        waiting = await conn.fetch(q.OLDEST_UNACKNOWLEDGED)
        trend = await conn.fetch(q.RATING_TREND, today - timedelta(days=13), today)
        month = await report_cli.gather(conn, today, "month", request.app.state.denominators, wait=False)
    return {
        "generated_at": now.isoformat(timespec="seconds"),
        "affiliate_names": KO,
        "volume_today": [{"affiliate": r["affiliate"], "topic": r["topic"], "cases": r["n"]} for r in volume],
        "alerts": [{"at": r["at"].astimezone(KST).isoformat(timespec="seconds"), "affiliate": r["affiliate"],
                    "reason": r["reason"], "severity": r["severity"], "message": r["message"],
                    "call_id": r["call_id"]} for r in alerts],
        "sla_breaches_today": [{"affiliate": r["affiliate"], "cases": r["n"]} for r in breaches],
        "oldest_unacknowledged": [{"affiliate": r["affiliate"], "team": r["team"],
                                   "oldest": r["oldest"].astimezone(KST).isoformat(timespec="minutes"),
                                   "waiting": r["waiting"]} for r in waiting],
        "ratings_trend": _every_day(trend, today - timedelta(days=13), today),
        "converted": {"period": month["period"]["name"],
                      "affiliates": [{"affiliate": a["affiliate"], "own_per_100k": a["converted_own_per_100k"],
                                      "own_last_year": a["converted_own_last_year"],
                                      "own_yoy_pct": a["converted_own_yoy_pct"],
                                      "fss_per_100k": a["converted_fss_per_100k"]} for a in month["affiliates"]]},
    }


def _every_day(rows, first: date, last: date) -> list[dict]:
    """One point per day of the window (null where nobody rated), so the chart's axis is the window."""
    by_day = {r["day"]: r for r in rows}
    out = []
    for i in range((last - first).days + 1):
        day = first + timedelta(days=i)
        r = by_day.get(day)
        out.append({"day": day.isoformat(), "csat": _round(r["csat"]) if r else None,
                    "ces": _round(r["ces"]) if r else None,
                    "nps": nps(r["promoters"], r["detractors"], r["nps_n"]) if r and r["nps_n"] else None})
    return out


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


@router.get("/dashboard", response_class=HTMLResponse, summary="Operator dashboard (live: polls /v1/dashboard)")
async def dashboard() -> HTMLResponse:
    return HTMLResponse((STATIC / "dashboard.html").read_text(encoding="utf-8"))


STATIC_FILES = {"uPlot.iife.min.js": "text/javascript", "uPlot.min.css": "text/css",
                "dashboard.js": "text/javascript", "dashboard.css": "text/css",
                "survey.js": "text/javascript", "survey.css": "text/css"}
serve_static(router, STATIC, STATIC_FILES)
