"""Report speed at scale: `moksori report daily` over 1,000,000 case facts in one year.

Generates synthetic facts (calendar year 2025 in random order, five affiliates, realistic
mixes of kind, topic, channel, times and ratings), stages them with COPY and loads them into
`feedback.case_facts` with one INSERT ... SELECT (its statement-level triggers mark the 365
days dirty), then times:

- the first report after the bulk load (the rollup is built from scratch for every day);
- steady state: ~3,000 fact updates on "today" (2025-12-31) as the live event consumer
  makes them, one statement each, then the report for the year (all 1,000,000 cases),
  quarter, month and day: the refresh of today's rollup rows plus the rollup read;
- baselines, same run: the report computed on read from all the facts (the queries the
  report used before the rollup, `on_read_gather`) and one `SELECT count(*)`; the same
  bulk load into a copy of the table without the triggers (their cost on bulk loads).

    .venv/bin/python -m bench.report_scale [--cases 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from services.feedback import report_cli
from services.feedback.adapters import facts
from services.feedback.adapters.facts import SETS
from services.feedback.adapters.report_sql import OPEN_OVERDUE, SUGGESTIONS
from services.feedback.domain.report import Period, build, with_overdue
from services.feedback.entrypoint import MIGRATIONS
from shared import db
from shared.bizcal import KST
from shared.directory import Denominator
from shared.events import AlertRaised, CaseAcknowledged, CaseResolved, FeedbackSubmitted

AFFILIATES = ["bank", "card", "securities", "insurance", "group"]
TOPICS = ["card_payment", "account_transfer", "loan", "digital_service", "staff_service", "insurance", "investment"]
DENOMINATORS = {a: Denominator(unit="contracts" if a == "insurance" else "customers", count=n) for a, n in {
    "bank": 15_200_000, "card": 9_800_000, "securities": 4_100_000, "insurance": 6_300_000, "group": 23_000_000}.items()}
YEAR = 2025
TODAY = date(YEAR, 12, 31)

# The report as it was computed before the rollup: straight from every fact in the period
# (ties ordered as the rollup's queries order them). The benchmark's baseline and the tests'
# oracle; the service no longer has it.
ON_READ_BY_AFFILIATE = """
SELECT affiliate,
  count(*) AS cases,
  count(*) FILTER (WHERE kind = 'complaint') AS complaints,
  count(*) FILTER (WHERE kind = 'suggestion') AS suggestions,
  count(*) FILTER (WHERE kind = 'inquiry') AS inquiries,
  count(*) FILTER (WHERE kind = 'praise') AS praise,
  count(*) FILTER (WHERE kind = 'complaint' AND NOT coalesce(duplicate, repeat, false) AND origin = 'direct')
      AS own_complaints,
  count(*) FILTER (WHERE kind = 'complaint' AND NOT coalesce(duplicate, repeat, false) AND origin = 'fss_transfer')
      AS fss_complaints,
  count(*) FILTER (WHERE kind = 'complaint' AND repeat) AS repeat_complaints,
  count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolved,
  count(*) FILTER (WHERE within_sla) AS within_sla,
  count(*) FILTER (WHERE extended) AS extended,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - received_at)) / 3600 AS ack_p50_h,
  percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - received_at)) / 3600 AS ack_p90_h,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - received_at)) / 3600 AS resolve_p50_h,
  percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - received_at)) / 3600 AS resolve_p90_h,
  avg(csat)::float AS csat_avg,
  count(nps) AS nps_n,
  count(*) FILTER (WHERE nps >= 9) AS promoters,
  count(*) FILTER (WHERE nps <= 6) AS detractors,
  avg(ces)::float AS ces_avg,
  sum(alerts) AS alerts
FROM feedback.case_facts
WHERE day >= $1 AND day < $2 AND affiliate IS NOT NULL
GROUP BY affiliate ORDER BY affiliate"""
ON_READ_CSAT = """
SELECT csat, count(*) AS n FROM feedback.case_facts
WHERE day >= $1 AND day < $2 AND csat IS NOT NULL GROUP BY csat ORDER BY csat"""
ON_READ_TOPIC = """
SELECT affiliate, topic, count(*) AS n FROM feedback.case_facts
WHERE day >= $1 AND day < $2 AND topic IS NOT NULL GROUP BY affiliate, topic ORDER BY affiliate, n DESC, topic"""
ON_READ_CHANNEL = """
SELECT channel, count(*) AS n FROM feedback.case_facts
WHERE day >= $1 AND day < $2 AND channel IS NOT NULL GROUP BY channel ORDER BY n DESC, channel"""
ON_READ_RISING = """
WITH cur AS (SELECT topic, count(*) AS n FROM feedback.case_facts WHERE day >= $1 AND day < $2 GROUP BY topic),
     prev AS (SELECT topic, count(*) AS n FROM feedback.case_facts WHERE day >= $3 AND day < $4 GROUP BY topic)
SELECT cur.topic, cur.n, coalesce(prev.n, 0) AS before FROM cur LEFT JOIN prev USING (topic)
WHERE cur.topic IS NOT NULL ORDER BY cur.n - coalesce(prev.n, 0) DESC, cur.n DESC, cur.topic LIMIT 5"""
ON_READ_TEAM = """
SELECT affiliate, team, count(*) AS cases, count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolved,
  count(*) FILTER (WHERE within_sla) AS within_sla, count(*) FILTER (WHERE extended) AS extended,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - received_at)) / 3600 AS resolve_p50_h,
  avg(csat)::float AS csat_avg
FROM feedback.case_facts WHERE day >= $1 AND day < $2 AND team IS NOT NULL
GROUP BY affiliate, team ORDER BY affiliate, team"""


async def on_read_gather(conn, day: date, period_kind: str, denominators: dict[str, Denominator],
                         today: date | None = None) -> dict:
    """The report computed on read from every fact of the period (exact percentiles); a running
    period (it holds `today`, KST) so far, as `report_cli.gather`."""
    p = Period.of(day, period_kind, today=today or datetime.now(KST).date())
    prev, ly = p.previous(), p.last_year()

    async def fetch(sql: str, *args) -> list[dict]:
        return [dict(r) for r in await conn.fetch(sql, *args)]

    rows, teams = await fetch(ON_READ_BY_AFFILIATE, p.start, p.end), await fetch(ON_READ_TEAM, p.start, p.end)
    with_overdue(rows, teams, await fetch(OPEN_OVERDUE, p.start, p.end, datetime.now(UTC)))  # read from facts anyway
    return build(p, rows, await fetch(ON_READ_BY_AFFILIATE, ly.start, ly.end), denominators,
                 await fetch(ON_READ_CSAT, p.start, p.end), await fetch(ON_READ_TOPIC, p.start, p.end),
                 await fetch(ON_READ_CHANNEL, p.start, p.end),
                 await fetch(ON_READ_RISING, p.start, p.end, prev.start, prev.end), teams,
                 await fetch(SUGGESTIONS, p.start, p.end))  # read from facts anyway


def rows(n: int, year: int = YEAR, seed: int = 7):
    """n facts received in the given calendar year, a fixed pseudo-random mix."""
    rnd = random.Random(seed)
    start = date(year, 1, 1)
    days = (date(year + 1, 1, 1) - start).days
    for _ in range(n):
        day = start + timedelta(days=rnd.randrange(days))
        received = datetime(day.year, day.month, day.day, rnd.randrange(24), rnd.randrange(60), tzinfo=UTC)
        acked = received + timedelta(hours=rnd.expovariate(1 / 6)) if rnd.random() < .9 else None
        resolved = received + timedelta(hours=rnd.expovariate(1 / 120)) if rnd.random() < .8 else None
        rated = resolved is not None and rnd.random() < .3
        affiliate = rnd.choice(AFFILIATES)
        yield (uuid.UUID(int=rnd.getrandbits(128), version=4), day, received, affiliate,
               rnd.choice(["general", "general", "fraud_response", "consumer_protection"]) if affiliate == "card" else "general",
               rnd.choice(TOPICS), rnd.choices(["complaint", "suggestion", "inquiry", "praise"], [60, 10, 25, 5])[0],
               rnd.choice(["app", "web", "phone", "chat", "email", "branch"]),
               "fss_transfer" if rnd.random() < .05 else "direct", "normal", rnd.random() < .08, acked, resolved,
               received + timedelta(days=20), (rnd.random() < .9) if resolved else None, rnd.random() < .03, 0,
               rnd.choice([0, 0, 0, 1]), rnd.randint(1, 5) if rated else None, rnd.randint(0, 10) if rated else None,
               rnd.randint(1, 7) if rated else None)


COLUMNS = ["case_id", "day", "received_at", "affiliate", "team", "topic", "kind", "channel", "origin", "urgency",
           "repeat", "acknowledged_at", "resolved_at", "resolve_due", "within_sla", "extended", "reopened", "alerts",
           "csat", "nps", "ces"]


# what a rating and an alert change in a case's facts (the consumer writes those a batch at a time,
# facts.RATINGS and facts.ALERTS; here one statement each, as the other events)
TOUCH_SETS = {FeedbackSubmitted: "csat = $2, nps = $3, ces = $4", AlertRaised: "alerts = alerts + 1"}


async def touch(conn, day: date, n: int, rnd: random.Random) -> None:
    """n fact updates on the day's cases, one statement each, as the facts consumer makes them."""
    ids = [r["case_id"] for r in await conn.fetch("SELECT case_id FROM feedback.case_facts WHERE day = $1", day)]
    at = datetime(day.year, day.month, day.day, 23, tzinfo=UTC)
    kinds = [(CaseAcknowledged, lambda: (at,)), (CaseResolved, lambda: (at, rnd.random() < .9)),
             (FeedbackSubmitted, lambda: (rnd.randint(1, 5), rnd.randint(0, 10), rnd.randint(1, 7))),
             (AlertRaised, lambda: ())]
    updates: dict[type, list] = {}
    for _ in range(n):
        kind, args = rnd.choice(kinds)
        updates.setdefault(kind, []).append((rnd.choice(ids), *args()))
    for kind, batch in updates.items():
        await conn.executemany(f"UPDATE feedback.case_facts SET {TOUCH_SETS.get(kind) or SETS[kind]} "
                               "WHERE case_id = $1", batch)


async def event_cost(conn, day: date, n: int) -> dict:
    """Microseconds per live fact event (facts.record: two statements, own transaction), with the
    rollup triggers and without them (best of two runs each)."""
    ids = [r["case_id"] for r in await conn.fetch("SELECT case_id FROM feedback.case_facts WHERE day = $1", day)]
    best = {"with_triggers": float("inf"), "without_triggers": float("inf")}
    for _ in range(2):
        for mode, sql in (("with_triggers", "ENABLE"), ("without_triggers", "DISABLE")):
            await conn.execute(f"ALTER TABLE feedback.case_facts {sql} TRIGGER USER")
            t = time.perf_counter()
            for i in range(n):
                async with conn.transaction():
                    await facts.record(conn, AlertRaised(case_id=ids[i % len(ids)], reason="bench", severity="warning",
                                                         message="bench"))
            best[mode] = min(best[mode], (time.perf_counter() - t) / n * 1e6)
    await conn.execute("ALTER TABLE feedback.case_facts ENABLE TRIGGER USER")
    await conn.execute("INSERT INTO feedback.rollup_dirty (day) VALUES ($1)", day)  # the untracked runs' changes
    return {k: round(v) for k, v in best.items()}


async def main(args: argparse.Namespace) -> None:
    from shared.devstack import PostgresServer

    tmp = Path(tempfile.mkdtemp(prefix="moksori-bench-"))
    pg = PostgresServer(tmp / "pg", durable=False).start()
    out: dict = {"cases": args.cases}
    try:
        conn = await db.connect(pg.url)
        await db.migrate(conn, "feedback", MIGRATIONS)
        # the facts are staged once (generation + COPY), then loaded with one INSERT ... SELECT into a
        # copy of the table without triggers (the baseline) and into case_facts (its triggers mark the days)
        await conn.execute("CREATE TABLE public.staged (LIKE feedback.case_facts)")
        t = time.perf_counter()
        await conn.copy_records_to_table("staged", schema_name="public", columns=COLUMNS, records=rows(args.cases))
        out["generate_and_copy_s"] = round(time.perf_counter() - t, 1)
        await conn.execute("CREATE TABLE public.twin (LIKE feedback.case_facts INCLUDING ALL)")
        t = time.perf_counter()
        await conn.execute("INSERT INTO public.twin SELECT * FROM public.staged")
        out["load_without_triggers_s"] = round(time.perf_counter() - t, 1)
        await conn.execute("DROP TABLE public.twin")
        t = time.perf_counter()
        await conn.execute("INSERT INTO feedback.case_facts SELECT * FROM public.staged")
        out["load_s"] = round(time.perf_counter() - t, 1)
        await conn.execute("DROP TABLE public.staged")
        await conn.execute("ANALYZE feedback.case_facts")
        out["dirty_days_after_load"] = await conn.fetchval("SELECT count(DISTINCT day) FROM feedback.rollup_dirty")

        t = time.perf_counter()
        first = await report_cli.gather(conn, TODAY, "year", DENOMINATORS)
        out["first_report_year_s"] = round(time.perf_counter() - t, 3)
        out["first_report_cases"] = sum(a["cases"] for a in first["affiliates"])
        await conn.execute("ANALYZE feedback.rollup_daily; ANALYZE feedback.rollup_hours")
        out["rollup_rows"] = await conn.fetchval("SELECT count(*) FROM feedback.rollup_daily")
        out["rollup_hours_rows"] = await conn.fetchval("SELECT count(*) FROM feedback.rollup_hours")

        rnd = random.Random(11)
        for period in ("year", "quarter", "month", "day"):
            totals, refreshes = [], []
            for _ in range(args.rounds):
                await touch(conn, TODAY, args.touch, rnd)
                t = time.perf_counter()
                days = await report_cli.refresh(conn)
                r = time.perf_counter()
                report = await report_cli.gather(conn, TODAY, period, DENOMINATORS)
                totals.append(time.perf_counter() - t)
                refreshes.append(r - t)
                assert days == 1, days
            out[f"steady_{period}"] = {"cases": sum(a["cases"] for a in report["affiliates"]),
                                       "median_s": round(statistics.median(totals), 3),
                                       "max_s": round(max(totals), 3),
                                       "refresh_median_s": round(statistics.median(refreshes), 3)}

        out["live_event_us"] = await event_cost(conn, TODAY, args.touch)
        new = await report_cli.gather(conn, TODAY, "year", DENOMINATORS)
        times = []
        for _ in range(args.rounds):
            t = time.perf_counter()
            old = await on_read_gather(conn, TODAY, "year", DENOMINATORS)
            times.append(time.perf_counter() - t)
        out["baseline_on_read_year_median_s"] = round(statistics.median(times), 3)
        out["percentile_error"] = percentile_error(new, old)
        strip = lambda rep: {**rep, "affiliates": [{k: v for k, v in a.items() if "hours" not in k}  # noqa: E731
                                                   for a in rep["affiliates"]],
                             "teams": [{k: v for k, v in a.items() if "hours" not in k} for a in rep["teams"]]}
        out["rollup_equals_on_read_except_percentiles"] = strip(new) == strip(old)
        t = time.perf_counter()
        await conn.fetchval("SELECT count(*) FROM feedback.case_facts")
        out["baseline_count_all_s"] = round(time.perf_counter() - t, 3)
        await conn.close()
        print(json.dumps(out, indent=2))
    finally:
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)  # ~1 GB of database at 1,000,000 cases


def percentile_error(new: dict, old: dict) -> dict:
    """Largest relative and absolute difference between bucket-estimated and exact percentiles."""
    rel = absolute = 0.0
    for group in ("affiliates", "teams"):
        for a, b in zip(new[group], old[group]):
            for k in a:
                if "hours" in k and b[k] is not None:
                    absolute = max(absolute, abs(a[k] - b[k]))
                    rel = max(rel, abs(a[k] - b[k]) / b[k] if b[k] else 0)
    return {"max_relative_pct": round(100 * rel, 2), "max_absolute_h": round(absolute, 2)}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=1_000_000)
    p.add_argument("--touch", type=int, default=3000, help="fact updates on today before each steady-state report")
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    if a.cases < 1000:
        p.error("--cases must be at least 1000")
    asyncio.run(main(a))
