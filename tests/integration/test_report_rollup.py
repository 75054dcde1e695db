"""The report's materialised rollup against real PostgreSQL: hand-computed figures, incremental
maintenance as case events arrive late and out of order, and equality with the report
computed on read from every fact (bench.report_scale.on_read_gather, the pre-rollup queries)."""

from __future__ import annotations

import asyncio
import random
import shutil
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bench.report_scale import on_read_gather
from services.feedback import report_cli
from services.feedback.adapters import facts
from services.feedback.handlers import events as feedback_events
from services.feedback.entrypoint import MIGRATIONS
from shared import db
from shared.cloudevents import envelope_for
from shared.consumer import Delivery
from shared.directory import Denominator
from shared.events import (
    AlertRaised, CaseAcknowledged, CaseExtended, CaseReclassified, CaseReopened, CaseResolved, CaseRouted,
    CaseTransferred, FeedbackSubmitted, SuggestionReviewed,
)

pytestmark = pytest.mark.integration

KST = ZoneInfo("Asia/Seoul")
DENOMINATORS = {a: Denominator(unit="contracts" if a == "insurance" else "customers", count=n) for a, n in {
    "card": 200_000, "insurance": 50_000, "bank": 1_000_000, "securities": 300_000, "group": 2_000_000}.items()}
COLUMNS = ["case_id", "day", "received_at", "affiliate", "team", "topic", "kind", "channel", "origin", "repeat",
           "acknowledged_at", "resolved_at", "within_sla", "extended", "alerts", "csat", "nps", "ces"]
INSERT = (f"INSERT INTO feedback.case_facts ({', '.join(COLUMNS)}) "
          f"VALUES ({', '.join(f'${i + 1}' for i in range(len(COLUMNS)))})")
# with `duplicate` (a repeat on record); rows without it are those routed before the column existed
INSERT_WITH_DUPLICATE = (f"INSERT INTO feedback.case_facts ({', '.join(COLUMNS)}, duplicate) "
                         f"VALUES ({', '.join(f'${i + 1}' for i in range(len(COLUMNS) + 1))})")


def percentile_ok(estimate: float | None, exact: float | None) -> bool:
    """The documented bound: 9.05 % of the exact value plus one minute, plus rounding to 0.01 h."""
    if exact is None or estimate is None:
        return estimate is exact
    return abs(estimate - exact) <= 0.0905 * abs(exact) + 1 / 60 + 0.0051


def fact(day: date, affiliate, team, topic, kind, channel, origin="direct", repeat=False, ack=None, resolve=None,
         within=None, extended=False, alerts=0, csat=None, nps=None, ces=None, case_id=None) -> tuple:
    received = datetime(day.year, day.month, day.day, 10, tzinfo=KST)
    return (case_id or uuid.uuid4(), day, received, affiliate, team, topic, kind, channel, origin, repeat,
            None if ack is None else received + timedelta(hours=ack),
            None if resolve is None else received + timedelta(hours=resolve), within, extended, alerts, csat, nps, ces)


SERVICE = "feedback"  # the `conn` fixture (conftest.py) applies its migrations


MARCH = date(2026, 3, 1)


def d(n: int) -> date:
    return MARCH + timedelta(days=n - 1)


# 12 cases in March 2026 (two affiliates), one in February (the period before), one in March 2025.
FIXTURE = [
    # card, team general
    fact(d(2), "card", "general", "card_payment", "complaint", "app", ack=0.5, resolve=10, within=True,
         csat=5, nps=10, ces=2),
    fact(d(2), "card", "general", "card_payment", "complaint", "phone", repeat=True, ack=2, resolve=30,
         within=False, csat=1, nps=3, ces=6),
    fact(d(5), "card", "general", "card_payment", "complaint", "web", origin="fss_transfer", ack=1, extended=True),
    fact(d(9), "card", "general", "loan", "complaint", "app", ack=4, resolve=50, within=True, csat=4, nps=8, ces=3),
    fact(d(9), "card", "general", "loan", "inquiry", "app", ack=1 / 6, resolve=2, within=True, csat=5, nps=9),
    fact(d(20), "card", "general", "digital_service", "suggestion", "app", alerts=2),
    fact(d(31), "card", "general", "card_payment", "complaint", "chat", origin="fss_transfer", repeat=True, ack=8,
         resolve=100, within=True),
    # insurance, teams general and special_handling
    fact(d(3), "insurance", "general", "insurance", "complaint", "branch", ack=1, resolve=20, within=True,
         csat=3, nps=7, ces=4),
    fact(d(3), "insurance", "general", "insurance", "complaint", "phone", ack=3, resolve=40, within=False,
         extended=True, csat=2, nps=5, ces=5),
    fact(d(14), "insurance", "general", "insurance", "complaint", "web", origin="fss_transfer", ack=6, alerts=1),
    fact(d(14), "insurance", "general", "insurance", "praise", "app", csat=5, nps=10),
    fact(d(15), "insurance", "special_handling", "other", "inquiry", "phone", ack=0.5, resolve=1, within=True),
    # February (the period before, for rising topics) and March last year (year on year)
    fact(date(2026, 2, 15), "card", "general", "card_payment", "complaint", "app"),
    fact(date(2025, 3, 10), "card", "general", "loan", "complaint", "app"),
]


async def test_a_running_month_is_compared_with_the_same_days(conn):
    """On 9 March, March so far is compared with 1-9 March 2025 (the fact of 10 March 2025 is not
    in it) and rising topics with 1-9 February (the case of 15 February is not); on the 10th, it is."""
    await conn.executemany(INSERT, FIXTURE)
    r = await report_cli.gather(conn, date(2026, 3, 9), "month", DENOMINATORS, today=date(2026, 3, 9))
    card = r["affiliates"][0]
    assert r["period"]["through"] == "2026-03-09" and r["period"]["to"] == "2026-03-10" and card["cases"] == 5
    assert card["cases_last_year"] == 0 and card["converted_own_last_year"] == 0.0
    assert {t["topic"]: t["before"] for t in r["rising_topics"]}["card_payment"] == 0
    r = await report_cli.gather(conn, date(2026, 3, 10), "month", DENOMINATORS, today=date(2026, 3, 10))
    assert r["affiliates"][0]["cases_last_year"] == 1
    r = await report_cli.gather(conn, date(2026, 3, 15), "month", DENOMINATORS, today=date(2026, 3, 15))
    assert {t["topic"]: t["before"] for t in r["rising_topics"]}["card_payment"] == 1  # 15 February is in


async def test_hand_computed_month(conn):
    await conn.executemany(INSERT, FIXTURE)
    r = await report_cli.gather(conn, date(2026, 3, 15), "month", DENOMINATORS)
    card, ins = r["affiliates"]
    assert (card["affiliate"], ins["affiliate"]) == ("card", "insurance")

    assert card["cases"] == 7
    assert card["by_kind"] == {"complaints": 5, "suggestions": 1, "inquiries": 1, "praise": 0}
    assert card["converted_own_per_100k"] == 1.0   # 2 direct complaints, the repeat one excluded, per 200,000
    assert card["converted_fss_per_100k"] == 0.5   # 1 FSS transfer; the repeated FSS transfer excluded
    assert card["converted_own_last_year"] == 0.5 and card["converted_own_yoy_pct"] == 100.0
    assert card["cases_last_year"] == 1 and card["cases_yoy_pct"] == 600.0
    assert card["repeat_complaint_pct"] == 40.0    # 2 of 5 complaints
    assert card["resolved"] == 5 and card["sla_met_pct"] == 80.0 and card["extended"] == 1
    assert card["csat_avg"] == 3.75 and card["nps"] == 25.0 and card["ces_avg"] == 3.67  # (2 - 1) / 4; 11 / 3
    assert card["alerts"] == 2
    # ack hours 1/6, 0.5, 1, 2, 4, 8 -> p50 1.5, p90 6; resolve hours 2, 10, 30, 50, 100 -> p50 30, p90 80
    for key, exact in (("ack_hours_p50", 1.5), ("ack_hours_p90", 6), ("resolve_hours_p50", 30),
                       ("resolve_hours_p90", 80)):
        assert percentile_ok(card[key], exact), (key, card[key])

    assert ins["cases"] == 5
    assert ins["by_kind"] == {"complaints": 3, "suggestions": 0, "inquiries": 1, "praise": 1}
    assert ins["converted_own_per_100k"] == 4.0 and ins["converted_fss_per_100k"] == 2.0  # per 50,000 contracts
    assert ins["converted_own_last_year"] == 0.0 and ins["converted_own_yoy_pct"] is None
    assert ins["repeat_complaint_pct"] == 0.0
    assert ins["resolved"] == 3 and ins["sla_met_pct"] == 66.7 and ins["extended"] == 1
    assert ins["csat_avg"] == 3.33 and ins["nps"] == 0.0 and ins["ces_avg"] == 4.5
    assert ins["alerts"] == 1
    # ack 0.5, 1, 3, 6 -> p50 2, p90 5.1; resolve 1, 20, 40 -> p50 20, p90 36
    for key, exact in (("ack_hours_p50", 2), ("ack_hours_p90", 5.1), ("resolve_hours_p50", 20),
                       ("resolve_hours_p90", 36)):
        assert percentile_ok(ins[key], exact), (key, ins[key])

    assert r["csat_distribution"] == {1: 1, 2: 1, 3: 1, 4: 1, 5: 3}
    assert r["channels"] == {"app": 5, "phone": 3, "web": 2, "branch": 1, "chat": 1}
    assert r["rising_topics"] == [{"topic": "insurance", "cases": 4, "before": 0},
                                  {"topic": "card_payment", "cases": 4, "before": 1},
                                  {"topic": "loan", "cases": 2, "before": 0},
                                  {"topic": "digital_service", "cases": 1, "before": 0},
                                  {"topic": "other", "cases": 1, "before": 0}]
    assert r["topics"][:3] == [{"affiliate": "card", "topic": "card_payment", "cases": 4},
                               {"affiliate": "card", "topic": "loan", "cases": 2},
                               {"affiliate": "card", "topic": "digital_service", "cases": 1}]
    teams = {(t["affiliate"], t["team"]): t for t in r["teams"]}
    assert teams["card", "general"] | {"resolve_hours_p50": None} == {
        "affiliate": "card", "team": "general", "cases": 7, "resolved": 5, "sla_met_pct": 80.0, "extended": 1,
        "open_overdue": 0, "resolve_hours_p50": None, "csat_avg": 3.75}
    assert percentile_ok(teams["insurance", "general"]["resolve_hours_p50"], 30)  # 20 and 40
    assert teams["insurance", "general"]["sla_met_pct"] == 50.0 and teams["insurance", "general"]["csat_avg"] == 3.33
    assert teams["insurance", "special_handling"]["cases"] == 1
    assert percentile_ok(teams["insurance", "special_handling"]["resolve_hours_p50"], 1)
    assert teams["insurance", "special_handling"]["csat_avg"] is None

    await assert_matches_on_read(conn, date(2026, 3, 15), "month")
    day = await report_cli.gather(conn, d(9), "day", DENOMINATORS)
    assert [(a["affiliate"], a["cases"]) for a in day["affiliates"]] == [("card", 2)]
    assert await conn.fetchval("SELECT count(*) FROM feedback.rollup_dirty") == 0


async def test_the_suggestion_programme_by_hand(conn):
    """Suggestions received in the month, by affiliate and the category their review sorted them into:
    reviews as the facts consumer records them (SuggestionReviewed), points from the rewards table;
    a suggestion received in February and reviewed in March counts in February, as every figure does."""
    await conn.execute("TRUNCATE feedback.case_facts, feedback.rewards")
    ids = [uuid.uuid4() for _ in range(6)]
    sugs = [fact(d(3), "bank", "suggestions_review", "digital_service", "suggestion", "app", case_id=ids[0]),
            fact(d(4), "bank", "suggestions_review", "account_transfer", "suggestion", "web", case_id=ids[1]),
            fact(d(4), "bank", "suggestions_review", "branch_atm", "suggestion", "branch", case_id=ids[2]),
            fact(d(10), "card", "suggestions_review", "points_benefits", "suggestion", "app", case_id=ids[3]),
            fact(d(0), "card", "suggestions_review", "points_benefits", "suggestion", "app", case_id=ids[4]),  # Feb
            fact(d(10), "card", "general", "card_payment", "complaint", "app", case_id=ids[5])]  # not a suggestion
    await conn.executemany(INSERT, sugs)
    when = datetime(2026, 3, 13, 10, tzinfo=KST)
    for case_id, affiliate, outcome, category in ((ids[0], "bank", "adopted", "process"),
                                                  (ids[1], "bank", "rejected", None),
                                                  (ids[3], "card", "adopted", "new_business"),
                                                  (ids[4], "card", "adopted", "product")):
        review = SuggestionReviewed(case_id=case_id, affiliate=affiliate, team="suggestions_review",
                                    outcome=outcome, reason="심사 결과", category=category,
                                    reviewed_at=None if outcome == "rejected" else when)
        # through the facts consumer; a routing before session 21 sends no reviewed_at: the event's time is taken
        await feedback_events.on_fact(conn, Delivery(envelope_for(review, source="moksori/routing", time=when),
                                                     review, None))  # type: ignore[arg-type]
        if outcome == "adopted":
            await conn.execute("INSERT INTO feedback.rewards (case_id, affiliate, points) VALUES ($1, $2, 50000)",
                               case_id, affiliate)
    sug = (await report_cli.gather(conn, d(9), "month", DENOMINATORS))["suggestions"]
    bank, card = sug["affiliates"]
    assert (bank["received"], bank["adopted"], bank["rejected"], bank["awaiting_review"]) == (3, 1, 1, 1)
    assert bank["adoption_pct"] == 50.0 and bank["points_granted"] == 50_000
    assert bank["by_category"]["process"]["adopted"] == 1 and bank["by_category"]["unsorted"]["rejected"] == 1
    assert bank["review_days_avg"] == round((10 + 9) / 2, 1)  # received the 3rd and 4th at 10:00, reviewed the 13th
    assert (card["received"], card["adopted"], card["by_category"]["new_business"]["adopted"]) == (1, 1, 1)
    assert card["review_days_avg"] == 3.0 and card["points_granted"] == 50_000
    assert (sug["all"]["received"], sug["all"]["adopted"], sug["all"]["points_granted"]) == (4, 2, 100_000)
    feb = (await report_cli.gather(conn, d(0), "month", DENOMINATORS))["suggestions"]["all"]
    assert (feb["received"], feb["adopted"], feb["by_category"]["product"]["adopted"]) == (1, 1, 1)


async def test_only_duplicates_on_record_are_left_out_and_each_year_has_its_own_base(conn):
    """환산건수 leaves out a repeat on record (`duplicate`), not a complaint whose text only says it was
    repeated: that one may be the first on record. Last year's figure is divided by last year's base."""
    rows = [  # (day, origin, repeat, duplicate)
        (d(4), "direct", True, False),   # "세 번째 전화인데요": the first on record, counted
        (d(6), "direct", True, True),    # the same customer and topic within the window: left out
        (d(7), "direct", False, False),
        (d(8), "fss_transfer", False, False),
        (date(2025, 3, 4), "direct", False, False),
        (date(2025, 3, 5), "fss_transfer", False, False),
    ]
    for day, origin, repeat, duplicate in rows:
        await conn.execute(INSERT_WITH_DUPLICATE, *fact(day, "card", "general", "card_payment", "complaint", "app",
                                                        origin=origin, repeat=repeat), duplicate)
    bases = {**DENOMINATORS, "card": Denominator(unit="customers", count=200_000, by_year={2025: 100_000})}
    card = (await report_cli.gather(conn, date(2026, 3, 15), "month", bases))["affiliates"][0]
    assert (card["own_complaints"], card["fss_complaints"], card["repeat_complaints"]) == (2, 1, 2)
    assert card["converted_own_per_100k"] == 1.0 and card["converted_fss_per_100k"] == 0.5  # per 200,000
    assert card["converted_own_last_year"] == 1.0 and card["converted_own_yoy_pct"] == 0.0  # 1 per 100,000
    assert card["converted_fss_last_year"] == 1.0 and card["converted_fss_yoy_pct"] == -50.0
    await assert_matches_on_read(conn, date(2026, 3, 15), "month")


async def test_the_report_reads_the_rollup_not_the_facts(conn):
    """Proof that the figures come from the materialised rows: doctor one, the report follows."""
    await conn.executemany(INSERT, FIXTURE)
    await report_cli.gather(conn, date(2026, 3, 15), "month", DENOMINATORS)
    await conn.execute("UPDATE feedback.rollup_daily SET cases = cases + 1000 WHERE affiliate = 'card' AND day = $1",
                       d(20))
    r = await report_cli.gather(conn, date(2026, 3, 15), "month", DENOMINATORS)
    assert r["affiliates"][0]["cases"] == 1007
    await conn.execute("INSERT INTO feedback.rollup_dirty (day) VALUES ($1)", d(20))  # a change on that day
    r = await report_cli.gather(conn, date(2026, 3, 15), "month", DENOMINATORS)
    assert r["affiliates"][0]["cases"] == 7


def routed(case_id, received_at: datetime, affiliate="card", team="general", topic="card_payment", kind="complaint",
           channel="app", origin="direct", repeat=False) -> CaseRouted:
    return CaseRouted(case_id=case_id, tracking_code="T-1", channel=channel, affiliate=affiliate, team=team, kind=kind,
                      topic=topic, urgency="normal", text="x", received_at=received_at, origin=origin, repeat=repeat,
                      resolve_due=received_at + timedelta(days=10))


async def from_scratch(conn, day: date, period: str) -> dict:
    """The report after throwing the rollup away and rebuilding every day."""
    await conn.execute("DELETE FROM feedback.rollup_daily; DELETE FROM feedback.rollup_hours; "
                       "INSERT INTO feedback.rollup_dirty (day) SELECT DISTINCT day FROM feedback.case_facts "
                       "WHERE day IS NOT NULL")
    return await report_cli.gather(conn, day, period, DENOMINATORS)


async def test_incremental_equals_recomputation_as_events_arrive_late(conn):
    await conn.executemany(INSERT, FIXTURE)
    ids = [f[0] for f in FIXTURE]
    before = await report_cli.gather(conn, date(2026, 3, 15), "month", DENOMINATORS)
    at = datetime(2026, 3, 25, 9, tzinfo=UTC)
    late = uuid.uuid4()
    events = [
        CaseAcknowledged(case_id=ids[5], affiliate="card", team="general", handler_name="김", handler_contact="1",
                         acknowledged_at=at),                                   # late acknowledgement
        FeedbackSubmitted(case_id=ids[2], csat=2, nps=0, ces=7, submitted_at=at),  # a rating arrives
        CaseResolved(case_id=ids[2], affiliate="card", team="general", channel="web", resolution="done",
                     resolved_at=at, within_sla=False),
        CaseReopened(case_id=ids[0], affiliate="card", team="general", reason="again"),  # resolved no more
        CaseExtended(case_id=ids[3], affiliate="card", team="general", reason="docs", business_days=10,
                     resolve_due=at),
        CaseTransferred(case_id=ids[4], from_affiliate="card", from_team="general", affiliate="bank",
                        team="general", reason="wrong", by="x", resolve_due=at),
        CaseReclassified(case_id=ids[7], affiliate="insurance", team="general", kind="inquiry", topic="other",
                         previous_kind="complaint", previous_topic="insurance", by="x"),
        AlertRaised(case_id=ids[8], reason="sla_breach", severity="high", affiliate="insurance", message="late"),
        # a case's day changes: its CaseRouted is redelivered with the corrected receipt time
        routed(ids[1], datetime(2026, 3, 28, 1, tzinfo=UTC), repeat=True, channel="phone"),
        # a case moves out of the period altogether (March 2 -> February 27, Korean time)
        routed(ids[9], datetime(2026, 2, 27, 5, tzinfo=UTC), affiliate="insurance", channel="phone"),
        # a case whose other events arrive before its CaseRouted
        FeedbackSubmitted(case_id=late, csat=4, nps=9, ces=1, submitted_at=at),
        CaseAcknowledged(case_id=late, affiliate="card", team="general", handler_name="김", handler_contact="1",
                         acknowledged_at=datetime(2026, 3, 21, 3, tzinfo=UTC)),
    ]
    for e in events:
        await facts.record(conn, e)
    half = await report_cli.gather(conn, date(2026, 3, 15), "month", DENOMINATORS)
    assert half != before
    assert half == await from_scratch(conn, date(2026, 3, 15), "month")
    await assert_matches_on_read(conn, date(2026, 3, 15), "month")

    await facts.record(conn, routed(late, datetime(2026, 3, 21, 1, tzinfo=UTC), topic="loan"))  # finally routed
    for period in ("day", "month", "quarter", "year"):
        incremental = await report_cli.gather(conn, date(2026, 3, 21), period, DENOMINATORS)
        assert incremental == await from_scratch(conn, date(2026, 3, 21), period), period
        await assert_matches_on_read(conn, date(2026, 3, 21), period)
    after = await report_cli.gather(conn, date(2026, 3, 15), "month", DENOMINATORS)
    card = after["affiliates"][1]
    assert card["affiliate"] == "card" and card["cases"] == 6 + 1 - 0  # one moved to bank, the late one added
    assert [a["cases"] for a in after["affiliates"]] == [1, 7, 4]      # bank, card, insurance (one left March)


async def test_a_writer_in_flight_keeps_its_mark(conn, database_url):
    """A fact change not yet committed while the report refreshes is in the next report,
    including when its day was already marked dirty by an earlier, committed change."""
    await conn.executemany(INSERT, FIXTURE)
    await report_cli.gather(conn, d(2), "day", DENOMINATORS)
    writer = await db.connect(database_url)
    try:
        await conn.execute("UPDATE feedback.case_facts SET alerts = alerts + 1 WHERE case_id = $1", FIXTURE[0][0])
        tx = writer.transaction()
        await tx.start()
        await writer.execute("UPDATE feedback.case_facts SET csat = 1 WHERE case_id = $1", FIXTURE[0][0])
        mid = await report_cli.gather(conn, d(2), "day", DENOMINATORS)
        assert mid["affiliates"][0]["alerts"] == 1 and mid["csat_distribution"] == {1: 1, 5: 1}
        await tx.commit()
    finally:
        await writer.close()
    after = await report_cli.gather(conn, d(2), "day", DENOMINATORS)
    assert after["csat_distribution"] == {1: 2}
    assert after == await from_scratch(conn, d(2), "day")


async def test_concurrent_reports_agree(conn, database_url):
    await conn.executemany(INSERT, FIXTURE)
    others = [await db.connect(database_url) for _ in range(3)]
    try:
        reports = await asyncio.gather(*(report_cli.gather(c, date(2026, 3, 15), "month", DENOMINATORS)
                                         for c in (conn, *others)))
    finally:
        for c in others:
            await c.close()
    assert all(r == reports[0] for r in reports)
    assert reports[0]["affiliates"][0]["cases"] == 7


async def test_bulk_copy_truncate_and_facts_from_before_the_migration(database_url, tmp_path: Path):
    for p in sorted(MIGRATIONS.glob("00[1-4]_*.sql")):
        shutil.copy(p, tmp_path / p.name)
    c = await db.connect(database_url)
    try:
        await db.migrate(c, "feedback", tmp_path)      # a deployment with facts but no rollup yet
        await c.executemany(INSERT, FIXTURE[:7])
        suggestion = FIXTURE[5][0]  # adopted and rewarded before 008: the migration marks it adopted
        granted = datetime(2026, 3, 25, 9, tzinfo=KST)
        await c.execute("INSERT INTO feedback.rewards (case_id, affiliate, points, granted_at) "
                        "VALUES ($1, 'card', 50000, $2)", suggestion, granted)
        assert await db.migrate(c, "feedback", MIGRATIONS) == ["005_rollup.sql", "006_open_cases.sql",
                                                           "007_duplicate_complaints.sql", "008_suggestions.sql",
                                                           "009_consultations.sql", "010_consultation_ref.sql",
                                                           "011_paused_cases.sql", "012_event_times.sql",
                                                           "013_transfer_times.sql"]
        assert tuple(await c.fetchrow("SELECT suggestion_outcome, reviewed_at FROM feedback.case_facts "
                                      "WHERE case_id = $1", suggestion)) == ("adopted", granted)
        card = (await report_cli.gather(c, d(9), "month", DENOMINATORS))["affiliates"][0]
        assert card["cases"] == 7
        # facts routed before `duplicate` existed count as they did, by `repeat`: 2 of the 3 direct complaints
        assert card["own_complaints"] == 2 and card["converted_own_per_100k"] == 1.0
        # COPY: one statement, one mark per day, however many rows
        await c.copy_records_to_table("case_facts", schema_name="feedback", columns=COLUMNS, records=FIXTURE[7:])
        assert await c.fetchval("SELECT count(*) FROM feedback.rollup_dirty") == len({f[1] for f in FIXTURE[7:]})
        assert [a["cases"] for a in (await report_cli.gather(c, d(9), "month", DENOMINATORS))["affiliates"]] == [7, 5]
        await c.execute("TRUNCATE feedback.case_facts")
        assert (await report_cli.gather(c, d(9), "month", DENOMINATORS))["affiliates"] == []
    finally:
        await c.close()


async def assert_matches_on_read(conn, day: date, period: str) -> None:
    """Every figure equals the on-read computation; percentiles within the bucket bound."""
    new = await report_cli.gather(conn, day, period, DENOMINATORS)
    old = await on_read_gather(conn, day, period, DENOMINATORS)
    for group in ("affiliates", "teams"):
        assert [(a["affiliate"], a.get("team")) for a in new[group]] == [(a["affiliate"], a.get("team"))
                                                                         for a in old[group]]
        for a, b in zip(new[group], old[group]):
            for k in a:
                if "hours" in k:
                    assert percentile_ok(a[k], b[k]), (period, group, a["affiliate"], k, a[k], b[k])
                else:
                    assert a[k] == b[k], (period, group, a["affiliate"], k)
    for k in new:
        if k not in ("affiliates", "teams"):
            assert new[k] == old[k], (period, k)


def random_facts(rnd: random.Random, n: int) -> list[tuple]:
    """Facts with every column sometimes missing, as out-of-order events leave them."""
    def maybe(v, p=0.1):
        return None if rnd.random() < p else v
    out = []
    for _ in range(n):
        day = date(2025, 12, 1) + timedelta(days=rnd.randrange(150))
        received = datetime(day.year, day.month, day.day, rnd.randrange(24), tzinfo=KST)
        out.append((uuid.uuid4(), maybe(day, 0.03), received, maybe(rnd.choice(["bank", "card", "insurance"]), 0.05),
                    maybe(rnd.choice(["general", "consumer_protection", "fraud_response"]), 0.05),
                    maybe(rnd.choice(["loan", "card_payment", "insurance", "other", "privacy"])),
                    maybe(rnd.choice(["complaint", "complaint", "inquiry", "suggestion", "praise"])),
                    maybe(rnd.choice(["app", "web", "phone"])), maybe(rnd.choice(["direct", "fss_transfer"])),
                    maybe(rnd.random() < .2),
                    maybe(received + timedelta(hours=rnd.lognormvariate(1, 1.5)), 0.2),
                    maybe(received + timedelta(hours=rnd.lognormvariate(4, 1)), 0.3), maybe(rnd.random() < .8, .3),
                    rnd.random() < .1, rnd.choice([0, 0, 1, 3]), maybe(rnd.randint(1, 5), .6),
                    maybe(rnd.randint(0, 10), .6), maybe(rnd.randint(1, 7), .7)))
    return out


def random_event(rnd: random.Random, case_id):
    """Any case event; acknowledgements and resolutions come after every receipt time (times to
    acknowledge and resolve are never negative, which the histograms would count as under a minute)."""
    at = datetime(2026, 5, 1, tzinfo=UTC) + timedelta(minutes=rnd.randrange(60 * 24 * 30))
    received = datetime(2025, 12, 1, tzinfo=UTC) + timedelta(minutes=rnd.randrange(60 * 24 * 150))
    aff, team = rnd.choice(["bank", "card", "insurance"]), rnd.choice(["general", "fraud_response"])
    return rnd.choice([
        lambda: CaseAcknowledged(case_id=case_id, affiliate=aff, team=team, handler_name="김", handler_contact="1",
                                 acknowledged_at=at),
        lambda: CaseResolved(case_id=case_id, affiliate=aff, team=team, channel="app", resolution="ok", resolved_at=at,
                             within_sla=rnd.random() < .7),
        lambda: CaseReopened(case_id=case_id, affiliate=aff, team=team, reason="r"),
        lambda: CaseTransferred(case_id=case_id, from_affiliate="card", from_team="general", affiliate=aff, team=team,
                                reason="r", by="x", resolve_due=at),
        lambda: CaseReclassified(case_id=case_id, affiliate=aff, team=team, kind=rnd.choice(["complaint", "inquiry"]),
                                 topic=rnd.choice(["loan", "privacy"]), previous_kind="complaint",
                                 previous_topic="loan", by="x"),
        lambda: FeedbackSubmitted(case_id=case_id, csat=rnd.randint(1, 5), nps=rnd.randint(0, 10), ces=None,
                                  submitted_at=at),
        lambda: CaseExtended(case_id=case_id, affiliate=aff, team=team, reason="r", business_days=5, resolve_due=at),
        lambda: AlertRaised(case_id=case_id, reason="critical", severity="critical", affiliate=aff, message="m"),
        lambda: routed(case_id, received, affiliate=aff, team=team,
                       topic=rnd.choice(["loan", "other"]), repeat=rnd.random() < .3,
                       origin=rnd.choice(["direct", "fss_transfer"])),
    ])()


async def test_random_dataset_equals_on_read_computation_through_rounds_of_events(conn):
    rnd = random.Random(2026)
    data = random_facts(rnd, 3000)
    await conn.copy_records_to_table("case_facts", schema_name="feedback", columns=COLUMNS, records=data)
    checks = [(date(2026, 1, 15), "month"), (date(2026, 2, 3), "week"), (date(2026, 3, 31), "quarter"),
              (date(2026, 4, 1), "year"), (date(2025, 12, 24), "day")]
    for day, period in checks:
        await assert_matches_on_read(conn, day, period)
    ids = [f[0] for f in data] + [uuid.uuid4() for _ in range(50)]   # some cases only ever seen through events
    for _ in range(4):
        for _ in range(300):
            await facts.record(conn, random_event(rnd, rnd.choice(ids)))
        for day, period in checks:
            await assert_matches_on_read(conn, day, period)
    day, period = checks[3]
    assert await report_cli.gather(conn, day, period, DENOMINATORS) == await from_scratch(conn, day, period)


async def test_reports_running_while_events_arrive_miss_nothing(conn, database_url):
    """Writers (the facts consumer on several replicas) and reporters (dashboards polling, the
    morning report) at the same time: once the writers stop, the next report equals a rebuild
    from scratch and the on-read computation, so no change was lost between a mark and a refresh."""
    rnd = random.Random(7)
    data = random_facts(rnd, 1500)
    await conn.copy_records_to_table("case_facts", schema_name="feedback", columns=COLUMNS, records=data)
    ids = [f[0] for f in data]
    writers = [await db.connect(database_url) for _ in range(3)]
    readers = [await db.connect(database_url) for _ in range(3)]
    stop = asyncio.Event()

    async def write(c, seed: int) -> None:
        r = random.Random(seed)
        for _ in range(150):
            async with c.transaction():
                await facts.record(c, random_event(r, r.choice(ids)))

    async def read(c, wait: bool) -> int:
        n = 0
        while not stop.is_set():
            await report_cli.gather(c, date(2026, 4, 1), "year", DENOMINATORS, wait=wait)
            n += 1
        return n

    try:
        reading = [asyncio.create_task(read(c, wait=i > 0)) for i, c in enumerate(readers)]
        await asyncio.gather(*(write(c, i) for i, c in enumerate(writers)))
        stop.set()
        assert all(n > 0 for n in await asyncio.gather(*reading))
    finally:
        for c in writers + readers:
            await c.close()
    await assert_matches_on_read(conn, date(2026, 4, 1), "year")
    day = date(2026, 3, 31)
    assert await report_cli.gather(conn, day, "quarter", DENOMINATORS) == await from_scratch(conn, day, "quarter")


async def test_sql_buckets_are_the_python_buckets(conn):
    from services.feedback.domain.report import LAST_BUCKET, bucket_bounds, hours_bucket

    rnd = random.Random(5)
    seconds = [-1.0, 0.0, 59.999, 60.0, 3600.0, 86400.0 * 400, 1e12] + [rnd.lognormvariate(9, 3) for _ in range(2000)]
    seconds += [bucket_bounds(k)[0] * f for k in range(1, LAST_BUCKET + 1) for f in (0.999999, 1.000001)]
    sql = await conn.fetch("SELECT s, feedback.hours_bucket(s) AS b FROM unnest($1::float8[]) s", seconds)
    assert [r["b"] for r in sql] == [hours_bucket(s) for s in seconds]
