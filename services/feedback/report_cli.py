"""`moksori report daily`: the 10:00 meeting's numbers, in the terminal or as a file."""

from __future__ import annotations

import csv
import html
import io
import json
from datetime import UTC, date, datetime, timedelta

from rich.console import Console
from rich.table import Table

from services.feedback.adapters import report_sql as q
from services.feedback.domain.report import UNSORTED, Period, build, with_overdue, with_times
from shared.bizcal import KST
from shared.directory import Denominator
from shared.events import SUGGESTION_CATEGORIES, SUGGESTION_CATEGORY_KO

AFFILIATE_KO = {"bank": "은행", "card": "카드", "securities": "증권", "insurance": "보험", "group": "지주"}


REFRESH_DAYS_PER_TRANSACTION = 31


async def refresh(conn, *, wait: bool = True) -> int:
    """Bring the rollup up to date: recompute every day marked dirty from its facts.

    Days are taken a month at a time, each batch in one transaction under an advisory lock
    (a concurrent report waits, then finds little left to do): delete the batch's marks,
    delete its rollup rows, rebuild them from case_facts. Under READ COMMITTED each
    statement sees every change committed before it, so a change whose mark was taken is
    in the rebuilt rows; a writer still in flight keeps its mark (not yet visible, so not
    taken) for the next refresh. A report therefore reflects every fact change committed
    before it started. With `wait=False` (the dashboard, polled every few seconds) a refresh
    already running elsewhere is not waited for: the page shows the rollup as it is, a few
    seconds stale at most. Returns the number of days recomputed."""
    days = [r["day"] for r in await conn.fetch(q.DIRTY_DAYS)]
    done = 0
    for i in range(0, len(days), REFRESH_DAYS_PER_TRANSACTION):
        batch = days[i:i + REFRESH_DAYS_PER_TRANSACTION]
        async with conn.transaction(isolation="read_committed"):  # each statement sees what committed before it
            if not wait and not await conn.fetchval(q.TRY_LOCK, q.ROLLUP_LOCK):
                return done  # someone else is refreshing: read what is there
            if wait:
                await conn.execute(q.LOCK, q.ROLLUP_LOCK)
            await conn.execute(q.REFRESH_MEMORY)
            if not await conn.fetchval(q.TAKE_DIRTY, batch):
                continue  # another report rebuilt these days while we waited for the lock
            for sql in (q.CLEAR_DAILY, q.CLEAR_HOURS, q.BUILD):
                await conn.execute(sql, batch)
            done += len(batch)
    return done


async def gather(conn, day: date, period_kind: str, denominators: dict[str, Denominator], *, wait: bool = True,
                 today: date | None = None) -> dict:
    """The report of the period holding `day`. A period still running (it holds `today`, KST) is
    compared with the same number of days of the previous period and of last year's."""
    p = Period.of(day, period_kind, today=today or datetime.now(KST).date())
    prev, ly = p.previous(), p.last_year()
    await refresh(conn, wait=wait)
    async with conn.transaction(isolation="repeatable_read", readonly=True):  # every section from one state
        return await _read(conn, p, prev, ly, denominators)


async def _read(conn, p: Period, prev: Period, ly: Period, denominators: dict[str, Denominator]) -> dict:
    rows = [dict(r) for r in await conn.fetch(q.BY_AFFILIATE, p.start, p.end)]
    last = [dict(r) for r in await conn.fetch(q.BY_AFFILIATE, ly.start, ly.end)]
    csat = [dict(r) for r in await conn.fetch(q.CSAT_DISTRIBUTION, p.start, p.end)]
    topics = [dict(r) for r in await conn.fetch(q.BY_TOPIC, p.start, p.end)]
    channels = [dict(r) for r in await conn.fetch(q.BY_CHANNEL, p.start, p.end)]
    rising = [dict(r) for r in await conn.fetch(q.RISING_TOPICS, p.start, p.end, prev.start, prev.end)]
    teams = [dict(r) for r in await conn.fetch(q.BY_TEAM, p.start, p.end)]
    with_times(rows, teams, await conn.fetch(q.HOURS, p.start, p.end))
    with_overdue(rows, teams, await conn.fetch(q.OPEN_OVERDUE, p.start, p.end, datetime.now(UTC)))
    suggestions = [dict(r) for r in await conn.fetch(q.SUGGESTIONS, p.start, p.end)]
    consultations = [dict(r) for r in await conn.fetch(q.CONSULTATIONS, p.start, p.end)]
    return build(p, rows, last, denominators, csat, topics, channels, rising, teams, suggestions, consultations)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:,}" if isinstance(v, int) else f"{v:,.2f}" if isinstance(v, float) else str(v)


def _last_day(end_exclusive: str) -> str:
    return (date.fromisoformat(end_exclusive) - timedelta(days=1)).isoformat()


def print_table(report: dict, console: Console) -> None:
    t = Table(title=f"목소리 민원 현황 {report['period']['name']}", show_lines=False)
    cols = [("계열사", "affiliate"), ("접수", "cases"), ("민원", None), ("자체민원", "own_complaints"),
            ("대외민원", "fss_complaints"), ("자체 환산", "converted_own_per_100k"),
            ("대외 환산", "converted_fss_per_100k"), ("자체 환산 전년비 %", "converted_own_yoy_pct"),
            ("대외 환산 전년비 %", "converted_fss_yoy_pct"), ("SLA 준수 %", "sla_met_pct"),
            ("기한 초과 미처리", "open_overdue"), ("연장", "extended"), ("확인 p50(h)", "ack_hours_p50"),
            ("처리 p90(h)", "resolve_hours_p90"), ("CSAT", "csat_avg"), ("NPS", "nps"), ("CES", "ces_avg"),
            ("재민원 %", "repeat_complaint_pct"), ("경보", "alerts")]
    for title, _ in cols:
        t.add_column(title, justify="right" if title != "계열사" else "left")
    for a in report["affiliates"]:
        t.add_row(*[AFFILIATE_KO.get(a["affiliate"], a["affiliate"]) if key == "affiliate" else
                    _fmt(a["by_kind"]["complaints"]) if key is None else _fmt(a[key]) for _, key in cols])
    console.print(t)
    period = report["period"]
    if period.get("compared_with"):
        ly, prev = period["compared_with"]["last_year"], period["compared_with"]["previous"]
        console.print(f"전년비: {ly['from']} ~ {_last_day(ly['to'])}, 급증 유형: 직전 기간 {prev['from']} ~ "
                      f"{_last_day(prev['to'])}" + (f"과 비교 ({period['through']}까지 같은 일수)"
                                                    if period.get("through") else "과 비교"))
    if report.get("teams"):
        tt = Table(title="팀별 처리 현황")
        for title in ("계열사", "팀", "접수", "처리", "SLA 준수 %", "연장", "처리 p50(h)", "CSAT"):
            tt.add_column(title, justify="left" if title in ("계열사", "팀") else "right")
        for r in report["teams"]:
            tt.add_row(AFFILIATE_KO.get(r["affiliate"], r["affiliate"]), r["team"], _fmt(r["cases"]),
                       _fmt(r["resolved"]), _fmt(r["sla_met_pct"]), _fmt(r["extended"]),
                       _fmt(r["resolve_hours_p50"]), _fmt(r["csat_avg"]))
        console.print(tt)
    if report.get("suggestions", {}).get("affiliates"):
        st = Table(title=SUGGESTIONS_TITLE)
        for title in SUGGESTION_COLUMNS:
            st.add_column(title, justify="left" if title == "계열사" else "right")
        for cells in _suggestion_rows(report["suggestions"]):
            st.add_row(*cells)
        console.print(st)
    if report.get("consultations", {}).get("affiliates"):
        ct = Table(title=CONSULTATIONS_TITLE)
        for title in CONSULTATION_COLUMNS:
            ct.add_column(title, justify="left" if title in ("계열사", "채널") else "right")
        for cells in _consultation_rows(report["consultations"]):
            ct.add_row(*cells)
        console.print(ct)
    if report["rising_topics"]:
        console.print("급증 유형: " + ", ".join(f"{r['topic']} {r['before']}→{r['cases']}"
                                              for r in report["rising_topics"]))
    if report["csat_distribution"]:
        console.print("CSAT 분포: " + "  ".join(f"{k}점 {v}" for k, v in sorted(report["csat_distribution"].items())))


SUGGESTION_CSV = ("received", "awaiting_review", "adopted", "rejected", "adoption_pct", "points_granted",
                  "review_days_avg")


def _suggestion_csv(r: dict | None) -> dict:
    """An affiliate's suggestion figures as `suggestions_*` columns (empty without suggestions)."""
    cells = {f"suggestions_{k}": r[k] if r else None for k in SUGGESTION_CSV}
    for c in (*SUGGESTION_CATEGORIES, UNSORTED):
        for outcome in ("adopted", "rejected"):
            cells[f"suggestions_{c}_{outcome}"] = r["by_category"][c][outcome] if r else None
    return cells


CONSULTATION_CSV = ("surveyed", "answered", "response_pct", "csat_avg", "nps", "ces_avg")


def to_csv(report: dict) -> str:
    """One row per affiliate: its figures, its complaints by kind, its suggestion programme's figures and its
    consultations' ratings (`consultations_*`)."""
    out = io.StringIO()
    rows = report["affiliates"]
    sug = {r["affiliate"]: r for r in report.get("suggestions", {}).get("affiliates", [])}
    con = {r["affiliate"]: r for r in report.get("consultations", {}).get("affiliates", [])}

    def consultations(affiliate: str) -> dict:
        return {f"consultations_{k}": con[affiliate][k] if affiliate in con else None for k in CONSULTATION_CSV}

    flat = [{**{k: v for k, v in a.items() if k != "by_kind"}, **a["by_kind"],
             **_suggestion_csv(sug.get(a["affiliate"])), **consultations(a["affiliate"])} for a in rows]
    with_cases = {a["affiliate"] for a in rows}
    # an affiliate whose consultations were rated in a period without cases: a row of its consultations only
    flat += [{"affiliate": a, **consultations(a)} for a in sorted(con) if a not in with_cases]
    fields = list(dict.fromkeys(k for row in flat for k in row)) or ["affiliate"]
    w = csv.DictWriter(out, fieldnames=fields)
    w.writeheader()
    w.writerows(flat)
    return out.getvalue()


def to_html(report: dict) -> str:
    """A self-contained page: tables plus CSS bar charts (no scripts, no network)."""
    def bars(items: list[tuple[str, float]], unit: str = "") -> str:
        top = max([v for _, v in items] or [1]) or 1
        return "".join(f'<div class="bar"><span>{html.escape(k)}</span><i style="width:{100 * v / top:.1f}%"></i>'
                       f"<b>{v:,.2f}{unit}</b></div>" for k, v in items)

    aff = report["affiliates"]
    rows = "".join(
        f"<tr><td>{AFFILIATE_KO.get(a['affiliate'], a['affiliate'])}</td><td>{a['cases']:,}</td>"
        f"<td>{a['by_kind']['complaints']:,}</td><td>{_fmt(a['converted_own_per_100k'])}</td>"
        f"<td>{_fmt(a['converted_fss_per_100k'])}</td><td>{_fmt(a['sla_met_pct'])}</td><td>{_fmt(a['csat_avg'])}</td>"
        f"<td>{_fmt(a['nps'])}</td><td>{_fmt(a['ces_avg'])}</td></tr>" for a in aff)
    return f"""<!doctype html><html lang="ko"><meta charset="utf-8">
<title>목소리 민원 현황 {html.escape(report['period']['name'])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:4px 8px;text-align:right}}.bar{{display:flex;align-items:center;gap:8px;margin:2px 0}}.bar span{{width:8em}}
.bar i{{display:inline-block;height:14px;background:#3b6ea5}}</style>
<h1>목소리 민원 현황 {html.escape(report['period']['name'])}</h1>
<table><tr><th>계열사</th><th>접수</th><th>민원</th><th>자체 환산건수</th><th>대외 환산건수</th><th>SLA 준수 %</th>
<th>CSAT</th><th>NPS</th><th>CES</th></tr>{rows}</table>
<h2>자체민원 환산건수 (10만 명당)</h2>{bars([(AFFILIATE_KO.get(a['affiliate'], a['affiliate']),
                                              a['converted_own_per_100k']) for a in aff])}
{_suggestions_html(report.get("suggestions", {}))}
{_consultations_html(report.get("consultations", {}))}
<h2>접수 채널</h2>{bars([(k, float(v)) for k, v in report['channels'].items()])}
<h2>CSAT 분포</h2>{bars([(f"{k}점", float(v)) for k, v in sorted(report['csat_distribution'].items())])}
</html>
"""


SUGGESTIONS_TITLE = "고객 제안 현황 (접수일 기준)"
SUGGESTION_COLUMNS = ("계열사", "접수", "심사 대기", "채택", "불채택", "채택률 %",
                      *(f"{SUGGESTION_CATEGORY_KO[c]} 채택" for c in SUGGESTION_CATEGORIES), "지급 포인트", "평균 심사일")


def _suggestion_rows(sug: dict) -> list[list[str]]:
    """The suggestion section's rows, in SUGGESTION_COLUMNS order: each affiliate, then all of them."""
    return [["전체" if r["affiliate"] == "all" else AFFILIATE_KO.get(r["affiliate"], r["affiliate"]),
             *(_fmt(r[k]) for k in ("received", "awaiting_review", "adopted", "rejected", "adoption_pct")),
             *(_fmt(r["by_category"][c]["adopted"]) for c in SUGGESTION_CATEGORIES),
             _fmt(r["points_granted"]), _fmt(r["review_days_avg"])] for r in [*sug["affiliates"], sug["all"]]]


def _section_html(title: str, columns: tuple[str, ...], cells: list[list[str]]) -> str:
    head = "".join(f"<th>{c}</th>" for c in columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in cells)
    return f"<h2>{title}</h2><table><tr>{head}</tr>{rows}</table>"


def _suggestions_html(sug: dict) -> str:
    return _section_html(SUGGESTIONS_TITLE, SUGGESTION_COLUMNS, _suggestion_rows(sug)) if sug.get("affiliates") else ""


CONSULTATIONS_TITLE = "상담 만족도 (민원 외 상담, 상담 종료일 기준)"
CONSULTATION_COLUMNS = ("계열사", "채널", "설문", "응답", "응답률 %", "CSAT", "NPS", "CES")


def _consultation_rows(con: dict) -> list[list[str]]:
    """The consultation section's rows, in CONSULTATION_COLUMNS order: each affiliate, its channels, then all."""
    def cells(name: str, channel: str, f: dict) -> list[str]:
        return [name, channel, *(_fmt(f[k]) for k in CONSULTATION_CSV)]

    rows = []
    for a in con["affiliates"]:
        name = AFFILIATE_KO.get(a["affiliate"], a["affiliate"])
        rows.append(cells(name, "전체", a))
        rows += [cells("", channel, f) for channel, f in a["by_channel"].items()]
    return rows + [cells("전체", "전체", con["all"])]


def _consultations_html(con: dict) -> str:
    if not con.get("affiliates"):
        return ""
    return _section_html(CONSULTATIONS_TITLE, CONSULTATION_COLUMNS, _consultation_rows(con))


def render(report: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, ensure_ascii=False, indent=2, default=str)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "html":
        return to_html(report)
    raise ValueError(f"format must be json, csv or html, not {fmt!r}")
