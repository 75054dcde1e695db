"""The operator dashboard: one self-refreshing HTML page served by feedback.

Today's volume by affiliate and topic, live critical and high alerts, SLA breaches and
the oldest unacknowledged case per queue, two weeks of CSAT/NPS/CES, and 환산건수 by
affiliate for the month so far against the same days last year. No personal data is
shown: texts are never in these tables."""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.feedback import report_cli
from services.feedback.adapters import dashboard_sql as q
from services.feedback.domain.report import nps
from shared.runtime import runtime_of

router = APIRouter(tags=["dashboard"])
KST = ZoneInfo("Asia/Seoul")
KO = report_cli.AFFILIATE_KO


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body or '<tr><td colspan=9>없음</td></tr>'}</table>"


@router.get("/dashboard", response_class=HTMLResponse, summary="Operator dashboard (refreshes every 15 s)")
async def dashboard(request: Request) -> HTMLResponse:
    now = datetime.now(KST)
    today = now.date()
    pool = runtime_of(request).pool
    async with pool.acquire() as conn:
        volume = await conn.fetch(q.TODAY_BY_AFFILIATE_TOPIC, today)
        alerts = await conn.fetch(q.RECENT_ALERTS)
        breaches = await conn.fetch(q.BREACHES_TODAY, now.replace(hour=0, minute=0, second=0, microsecond=0))
        waiting = await conn.fetch(q.OLDEST_UNACKNOWLEDGED)
        trend = await conn.fetch(q.RATING_TREND, today - timedelta(days=13), today)
        month = await report_cli.gather(conn, today, "month", request.app.state.denominators)
    parts = [
        "<h2>오늘 접수 (계열사·유형)</h2>",
        _table(["계열사", "유형", "건수"], [[KO.get(r["affiliate"], r["affiliate"]), r["topic"], r["n"]] for r in volume]),
        "<h2>실시간 경보 (긴급·높음)</h2>",
        _table(["시각", "계열사", "사유", "내용", "통화"],
               [[f"{r['at'].astimezone(KST):%H:%M:%S}", KO.get(r["affiliate"], r["affiliate"] or "-"), r["reason"],
                 r["message"], r["call_id"] or ""] for r in alerts]),
        "<h2>SLA 초과 (오늘)</h2>",
        _table(["계열사", "건수"], [[KO.get(r["affiliate"], r["affiliate"]), r["n"]] for r in breaches]),
        "<h2>미확인 민원이 가장 오래된 큐</h2>",
        _table(["계열사", "팀", "가장 오래된 접수", "대기 건수"],
               [[KO.get(r["affiliate"], r["affiliate"]), r["team"], f"{r['oldest'].astimezone(KST):%m-%d %H:%M}",
                 r["waiting"]] for r in waiting]),
        "<h2>CSAT · NPS · CES 추이 (14일)</h2>",
        _table(["날짜", "CSAT", "NPS", "CES"],
               [[f"{r['day']:%m-%d}", f"{r['csat']:.2f}" if r["csat"] else "-",
                 nps(r["promoters"], r["detractors"], r["nps_n"]) if r["nps_n"] else "-",
                 f"{r['ces']:.2f}" if r["ces"] else "-"] for r in trend]),
        f"<h2>환산건수 ({html.escape(month['period']['name'])}, 10만 명당) 전년 동기 대비</h2>",
        _table(["계열사", "자체민원", "전년", "증감 %", "대외민원"],
               [[KO.get(a["affiliate"], a["affiliate"]), a["converted_own_per_100k"], a["converted_own_last_year"],
                 a["converted_own_yoy_pct"] if a["converted_own_yoy_pct"] is not None else "-",
                 a["converted_fss_per_100k"]] for a in month["affiliates"]]),
    ]
    page = f"""<!doctype html><html lang="ko"><meta charset="utf-8"><meta http-equiv="refresh" content="15">
<title>목소리 운영 대시보드</title><style>body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse;
margin-bottom:1em}}td,th{{border:1px solid #ccc;padding:3px 8px}}th{{background:#eef}}</style>
<h1>목소리 운영 대시보드 <small>{now:%Y-%m-%d %H:%M:%S}</small></h1>{''.join(parts)}</html>"""
    return HTMLResponse(page)
