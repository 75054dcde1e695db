"""Report speed at scale: `moksori report daily --period month` over 1,000,000 case facts.

Loads synthetic facts (a year of cases for five affiliates, realistic mixes of kind,
topic, channel and ratings) with COPY, then times the report's queries for one month
(~83,000 cases) and for a period covering the whole year's volume. Baseline, same run:
one `SELECT count(*)` over the same rows, the floor for any compute-on-read report.

    .venv/bin/python -m bench.report_scale [--cases 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from services.feedback import report_cli
from services.feedback.entrypoint import MIGRATIONS
from shared import db
from shared.devstack import PostgresServer

AFFILIATES = ["bank", "card", "securities", "insurance", "group"]
TOPICS = ["card_payment", "account_transfer", "loan", "digital_service", "staff_service", "insurance", "investment"]
DENOMINATORS = {"bank": 15_200_000, "card": 9_800_000, "securities": 4_100_000, "insurance": 6_300_000,
                "group": 23_000_000}


def rows(n: int, start: date):
    rnd = random.Random(7)
    for _ in range(n):
        day = start + timedelta(days=rnd.randrange(365))
        received = datetime(day.year, day.month, day.day, rnd.randrange(24), tzinfo=UTC)
        acked = received + timedelta(hours=rnd.expovariate(1 / 6)) if rnd.random() < .9 else None
        resolved = received + timedelta(hours=rnd.expovariate(1 / 120)) if rnd.random() < .8 else None
        rated = resolved is not None and rnd.random() < .3
        yield (uuid.uuid4(), day, received, rnd.choice(AFFILIATES), "general", rnd.choice(TOPICS),
               rnd.choices(["complaint", "suggestion", "inquiry", "praise"], [60, 10, 25, 5])[0],
               rnd.choice(["app", "web", "phone", "chat", "email", "branch"]),
               "fss_transfer" if rnd.random() < .05 else "direct", "normal", rnd.random() < .08, acked, resolved,
               received + timedelta(days=20), (rnd.random() < .9) if resolved else None, rnd.random() < .03, 0,
               rnd.choice([0, 0, 0, 1]), rnd.randint(1, 5) if rated else None, rnd.randint(0, 10) if rated else None,
               rnd.randint(1, 7) if rated else None)


COLUMNS = ["case_id", "day", "received_at", "affiliate", "team", "topic", "kind", "channel", "origin", "urgency",
           "repeat", "acknowledged_at", "resolved_at", "resolve_due", "within_sla", "extended", "reopened", "alerts",
           "csat", "nps", "ces"]


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="moksori-bench-"))
    pg = PostgresServer(tmp / "pg", durable=False).start()
    try:
        conn = await db.connect(pg.url)
        await db.migrate(conn, "feedback", MIGRATIONS)
        t = time.perf_counter()
        await conn.copy_records_to_table("case_facts", schema_name="feedback", columns=COLUMNS,
                                         records=rows(args.cases, date(2025, 11, 1)))
        await conn.execute("ANALYZE feedback.case_facts")
        load_s = time.perf_counter() - t
        timings = {}
        # the generated year runs 2025-11-01..2026-10-31; "year 2026" covers ten months of it (~830,000 cases)
        for label, day, period in (("year", date(2026, 3, 15), "year"), ("quarter", date(2026, 3, 15), "quarter"),
                                   ("month", date(2026, 3, 15), "month"), ("day", date(2026, 3, 16), "day")):
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                await report_cli.gather(conn, day, period, DENOMINATORS)
                best = min(best, time.perf_counter() - t)
            timings[f"report_{label}_s"] = round(best, 3)
        t = time.perf_counter()
        await conn.fetchval("SELECT count(*) FROM feedback.case_facts")
        timings["baseline_count_all_s"] = round(time.perf_counter() - t, 3)
        await conn.close()
        print(json.dumps({"cases": args.cases, "load_s": round(load_s, 1), **timings}, indent=2))
    finally:
        pg.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=1_000_000)
    a = p.parse_args()
    if a.cases < 1000:
        p.error("--cases must be at least 1000")
    asyncio.run(main(a))
