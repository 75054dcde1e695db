"""The morning report from real case events: counts, 환산건수, SLA, ratings."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import nats
import pytest

from services import devrun
from tests.e2e.pages import run_page_script

pytestmark = pytest.mark.e2e

VOCS = [
    {"channel": "app", "affiliate": "card", "text": "카드 연회비가 두 번 청구됐어요. 환불해 주세요."},
    {"channel": "phone", "affiliate": "card", "text": "벌써 세 번째 전화인데 아직도 환불이 안 됐어요"},
    {"channel": "web", "affiliate": "card", "origin": "fss_transfer",
     "text": "금융감독원 이첩 민원: 카드 할부 수수료 부당 청구 건"},
    {"channel": "app", "affiliate": "bank", "kind": "suggestion", "text": "적금 자동 재예치 기능이 있으면 좋겠어요"},
]


async def test_daily_report_counts_what_happened(system, http, db, tmp_path):
    nc = await nats.connect(system.nats_url)
    surveys: asyncio.Queue = asyncio.Queue()

    async def on_survey(msg):
        await surveys.put(json.loads(msg.data))

    await nc.subscribe("voc.feedback.survey_requested", cb=on_survey)
    ids = [(await http["intake"].post("/v1/voc", json=v)).json()["case_id"] for v in VOCS]
    for _ in range(100):
        if await db.fetchval("SELECT count(*) FROM feedback.case_facts WHERE case_id::text = ANY($1) "
                             "AND affiliate IS NOT NULL", ids) == len(ids):
            break
        await asyncio.sleep(0.1)
    card = devrun.team_headers(system.var, "card")
    for case_id, csat in ((ids[0], 5), (ids[1], 2)):
        await http["routing"].post(f"/v1/cases/{case_id}/acknowledge", headers=card,
                                   json={"handler_name": "김민지", "handler_contact": "1588-0000"})
        await http["routing"].post(f"/v1/cases/{case_id}/resolve", headers=card,
                                   json={"resolution": "환불 완료", "outcome": "accepted"})
    tokens = {}
    while len(tokens) < 2:
        s = await asyncio.wait_for(surveys.get(), 15)
        tokens[s["case_id"]] = s["token"]
    for case_id, csat in ((ids[0], 5), (ids[1], 2)):
        await http["feedback"].post("/v1/feedback", json={"token": tokens[case_id], "csat": csat, "nps": csat * 2})
    for _ in range(100):
        if await db.fetchval("SELECT count(*) FROM feedback.case_facts WHERE case_id::text = ANY($1) "
                             "AND csat IS NOT NULL", ids) == 2:
            break
        await asyncio.sleep(0.1)
    # the bank's suggestion is adopted, sorted as a process improvement (제도개선), and rewarded
    bank = devrun.team_headers(system.var, "bank")
    r = await http["routing"].post(f"/v1/cases/{ids[-1]}/review", headers=bank,
                                   json={"outcome": "adopted", "reason": "만기 자동 재예치 도입 검토 과제로 채택",
                                         "category": "process"})
    assert r.status_code == 200, r.text
    assert (await http["routing"].get(f"/v1/cases/{ids[-1]}", headers=bank)).json()["review_category"] == "process"
    for _ in range(100):
        if await db.fetchval("SELECT count(*) FROM feedback.case_facts f JOIN feedback.rewards USING (case_id) "
                             "WHERE case_id = $1 AND suggestion_outcome = 'adopted' AND reviewed_at IS NOT NULL",
                             uuid.UUID(ids[-1])):
            break
        await asyncio.sleep(0.1)
    await nc.drain()

    # the third card case is still open and, say, past its deadline: it counts against SLA compliance
    await db.execute("UPDATE feedback.case_facts SET resolve_due = now() - interval '1 hour' WHERE case_id = $1",
                     uuid.UUID(ids[2]))
    env = {**os.environ, "DATABASE_URL": system.database_url}
    out = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "services.cli", "report", "daily", "--format", "json", "--output", str(out)],
                   env=env, check=True, capture_output=True, timeout=60)
    report = json.loads(out.read_text())
    card_row = next(a for a in report["affiliates"] if a["affiliate"] == "card")
    assert card_row["cases"] == 3 and card_row["by_kind"]["complaints"] == 3
    # "벌써 세 번째 전화인데" is a repeat in the customer's words, but the first on record: it counts once, as a
    # 자체민원; only a repeat on record (the same customer and topic within 30 days) is left out
    assert card_row["own_complaints"] == 2 and card_row["fss_complaints"] == 1
    assert card_row["converted_own_per_100k"] == round(2 * 100_000 / 9_800_000, 3)
    assert card_row["converted_fss_per_100k"] == round(1 * 100_000 / 9_800_000, 3)  # 대외민원 apart
    assert card_row["repeat_complaint_pct"] == pytest.approx(33.3)
    # the CSAT 2 case was reopened by service recovery, so one stays resolved
    assert card_row["resolved"] == 1 and card_row["open_overdue"] == 1
    assert card_row["sla_met_pct"] == 50.0  # 1 resolved in time, out of 1 resolved + 1 open past its deadline
    assert card_row["csat_avg"] == 3.5 and card_row["nps"] == 0.0  # one promoter (10), one detractor (4)
    assert report["csat_distribution"] == {"2": 1, "5": 1}
    card_team = next(t for t in report["teams"] if (t["affiliate"], t["team"]) == ("card", "general"))
    assert card_team["cases"] == 3 and card_team["resolved"] == 1 and card_team["open_overdue"] == 1
    bank_row = next(a for a in report["affiliates"] if a["affiliate"] == "bank")
    assert bank_row["by_kind"]["suggestions"] == 1
    [bank_sug] = report["suggestions"]["affiliates"]
    assert (bank_sug["affiliate"], bank_sug["received"], bank_sug["adopted"], bank_sug["awaiting_review"],
            bank_sug["adoption_pct"]) == ("bank", 1, 1, 0, 100.0)
    assert bank_sug["by_category"]["process"] == {"adopted": 1, "rejected": 0}
    assert bank_sug["points_granted"] == report["suggestions"]["all"]["points_granted"] > 0
    assert bank_sug["review_days_avg"] == 0.0  # reviewed within the minute
    for fmt in ("csv", "html"):
        p = subprocess.run([sys.executable, "-m", "services.cli", "report", "daily", "--format", fmt], env=env,
                           check=True, capture_output=True, text=True, timeout=60)
        assert "card" in p.stdout or "카드" in p.stdout
    table = subprocess.run([sys.executable, "-m", "services.cli", "report", "daily"], env=env, check=True,
                           capture_output=True, text=True, timeout=60).stdout
    assert "목소리 민원 현황" in table and "카드" in table and "팀별 처리 현황" in table and "고객 제안 현황" in table


async def test_dashboard_api_shows_today_alerts_and_queues(system, http):
    await http["intake"].post("/v1/voc", json={"channel": "app", "affiliate": "card",
                                               "text": "방금 카드를 잃어버렸어요 정지해 주세요. 해결 안 되면 금감원에 "
                                                       "민원 넣겠습니다. 연락은 010-4321-8765로 주세요"})
    office = devrun.dashboard_headers(system.var)
    for _ in range(100):
        data = (await http["feedback"].get("/v1/dashboard", headers=office)).json()
        if {"regulator", "critical"} <= {a["reason"] for a in data["alerts"]}:
            break
        await asyncio.sleep(0.1)
    assert {"regulator", "critical"} <= {a["reason"] for a in data["alerts"]}  # live alerts
    assert any(v["affiliate"] == "card" for v in data["volume_today"])
    assert any(w["affiliate"] == "card" for w in data["oldest_unacknowledged"])
    assert "card" in {a["affiliate"] for a in data["converted"]["affiliates"]}
    assert "010-4321-8765" not in json.dumps(data, ensure_ascii=False)  # the alerts carry no raw number
    # every affiliate's alerts: not for a request without the office's key, nor for an affiliate's keys (a
    # consulting system reaches this port for POST /v1/consultations)
    for headers in ({}, {"X-Api-Key": devrun.team_keys(system.var, "CONSULTATION_KEYS")["card"]},
                    {"X-Api-Key": devrun.team_keys(system.var)["group"]}, {"X-Api-Key": "dash-guess"}):
        refused = await http["feedback"].get("/v1/dashboard", headers=headers)
        assert refused.status_code == 401 and "DASHBOARD_KEYS" in refused.json()["error"], refused.text
    page = await http["feedback"].get("/dashboard")
    assert "목소리 운영 대시보드" in page.text and "/static/uPlot.iife.min.js" in page.text  # served here, no CDN
    assert "https://" not in page.text and "http://" not in page.text
    js = await http["feedback"].get("/static/uPlot.iife.min.js")
    assert js.status_code == 200 and "uPlot" in js.text
    assert (await http["feedback"].get("/static/survey.html")).status_code == 404  # a real file, not served


DASHBOARD_VOCS = ("앱에서 이체가 계속 실패해요 ㅠㅠ 빨리 고쳐주세요", "보험금 청구했는데 2주째 연락이 없습니다")


async def test_dashboard_script_shows_the_api_numbers(system, http):
    """The page's own script, as the service serves it, run in V8 (mini-racer) against the live
    API's JSON, with the little of a DOM it uses (page_dom.js): the totals, the bars and the
    chart's data it shows are the API's. (`make browser` also renders the page in headless Chromium.)"""
    for text in DASHBOARD_VOCS:
        await http["intake"].post("/v1/voc", json={"channel": "app", "text": text})
    api = await _settled_dashboard(http, system)
    script = await http["feedback"].get("/static/dashboard.js")
    assert script.status_code == 200
    key = devrun.dashboard_headers(system.var)["X-Api-Key"]
    page = _run_dashboard_script(script.text, api, f"#key={key}")
    assert page["loaded"] and page["requests"] == [["/v1/dashboard", key]] and page["timers"] == [5000], page
    assert page["status"].startswith("갱신 ")
    assert page["address"] == "/dashboard" and page["kept_key"] == key  # the key left the address bar, kept in the tab
    keyless = _run_dashboard_script(script.text, api, "")  # opened without its key: asks for it, fetches nothing
    assert not keyless["loaded"] and keyless["requests"] == [] and "#key=" in keyless["status"], keyless
    shown = page["shown"]
    _shows_the_api_numbers(shown, api)
    assert int(shown["critical-alerts"]) == sum(a["severity"] == "critical" for a in api["alerts"])
    assert int(shown["breaches-total"].replace(",", "")) == sum(b["cases"] for b in api["sla_breaches_today"])
    (days, csat, ces, nps), = page["plots"]  # the trend chart got the ratings, one point a day
    assert len(days) == len(api["ratings_trend"])
    assert csat == [p["csat"] for p in api["ratings_trend"]] and nps == [p["nps"] for p in api["ratings_trend"]]


def _run_dashboard_script(script: str, api: dict, fragment: str) -> dict:
    """What the page shows after its script's first poll, opened at /dashboard<fragment>."""
    return run_page_script(script, api, "/dashboard", fragment)


def _shows_the_api_numbers(shown: dict[str, str], api: dict) -> None:
    """The page's total, its per-affiliate volume bars and its 환산건수 bars are the API's numbers."""
    by_affiliate: dict[str, int] = {}
    for v in api["volume_today"]:
        by_affiliate[v["affiliate"]] = by_affiliate.get(v["affiliate"], 0) + v["cases"]
    assert by_affiliate, api
    assert int(shown["today-total"].replace(",", "")) == sum(by_affiliate.values())
    for affiliate, cases in by_affiliate.items():
        assert int(shown[f"volume-{affiliate}"].replace(",", "")) == cases, affiliate
    for a in api["converted"]["affiliates"]:
        assert float(shown[f"converted-{a['affiliate']}"].replace(",", "")) == a["own_per_100k"]


async def _settled_dashboard(http, system) -> dict:
    """The dashboard's JSON once two polls half a second apart agree (the cases just sent are counted)."""
    previous = None
    for _ in range(50):
        current = (await http["feedback"].get("/v1/dashboard", headers=devrun.dashboard_headers(system.var))).json()
        if previous and current["volume_today"] == previous["volume_today"]:
            return current
        previous = current
        await asyncio.sleep(0.5)
    return previous


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "var" / "test-artifacts"


def chromium(*args: str, user_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={user_dir}", "--virtual-time-budget=8000", *args],
                          capture_output=True, text=True, timeout=90)


@pytest.mark.browser  # not in `make test`: a fresh machine has no Chromium (`make browser` runs it)
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed: on Debian/Ubuntu "
                                              "`sudo apt-get install chromium` (then this test runs)")
async def test_dashboard_in_headless_chromium_matches_the_api(system, http, tmp_path):
    """The page as a browser renders it (scripts run, charts drawn) shows the API's numbers."""
    for text in DASHBOARD_VOCS:
        await http["intake"].post("/v1/voc", json={"channel": "app", "text": text})
    await _settled_dashboard(http, system)  # so the page and the API see the same state
    office = devrun.dashboard_headers(system.var)
    url = f"{system.url('feedback')}/dashboard#key={office['X-Api-Key']}"
    dom = await asyncio.to_thread(chromium, "--dump-dom", url, user_dir=tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    api = (await http["feedback"].get("/v1/dashboard", headers=office)).json()
    html = dom.stdout
    assert 'data-loaded="true"' in html, "the page's script did not load its data:\n" + html[:3000]
    _shows_the_api_numbers(dict(re.findall(r'data-testid="([a-z0-9_-]+)"[^>]*>([^<]*)<', html)), api)
    assert "uplot" in html  # the trend chart was drawn by the locally served library
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    r = await asyncio.to_thread(chromium, f"--screenshot={shot}", "--window-size=1400,1600", url,
                                user_dir=tmp_path / "profile-shot")
    assert r.returncode == 0 and shot.stat().st_size > 10_000, r.stderr[-2000:]
