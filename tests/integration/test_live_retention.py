"""Retention of live screening's guard rows against real PostgreSQL: rows older than the inbox's age (no
stream redelivers a segment that old) are deleted in chunks by housekeeping; younger ones, which still keep
a redelivered segment from counting or alerting twice, stay."""

from __future__ import annotations

import pytest

from services.classifier.entrypoint import LIVE_GUARDS
from shared import db
from shared.housekeeping import Housekeeper, Retention

pytestmark = pytest.mark.integration

SERVICE = "classifier"
AGED = "now() - make_interval(days => $2)"


async def test_live_rows_past_the_inbox_age_go_and_younger_ones_stay(conn, database_url):
    for call, age in (("call-old-1", 40), ("call-old-2", 35), ("call-young", 2)):
        await conn.execute(f"INSERT INTO classifier.live_calls (call_id, angry_turns, updated_at) "
                           f"VALUES ($1, 3, {AGED})", call, age)
        for seq in range(3):
            await conn.execute(f"INSERT INTO classifier.live_turns (call_id, seq, abusive, at) "
                               f"VALUES ($1, $3, false, {AGED})", call, age, seq)
        await conn.execute(f"INSERT INTO classifier.live_alerts (call_id, reason, raised_at) "
                           f"VALUES ($1, 'regulator', {AGED})", call, age)
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    try:
        keeper = Housekeeper(pool, SERVICE, inbox_keep_days=31, chunk=4,
                             retention=[Retention(table, column) for table, column in LIVE_GUARDS])
        assert await keeper.retained() == {"classifier.live_turns": 6, "classifier.live_calls": 2,
                                           "classifier.live_alerts": 2}
        assert await keeper.retained() == dict.fromkeys(("classifier.live_turns", "classifier.live_calls",
                                                         "classifier.live_alerts"), 0)
    finally:
        await pool.close()
    for table in ("live_calls", "live_turns", "live_alerts"):
        left = {r[0] for r in await conn.fetch(f"SELECT DISTINCT call_id FROM classifier.{table}")}
        assert left == {"call-young"}, table


async def test_a_turn_counted_now_is_stamped_now(conn):
    await conn.execute("INSERT INTO classifier.live_turns (call_id, seq, abusive) VALUES ('call-1', 0, true)")
    assert await conn.fetchval("SELECT now() - at < interval '1 minute' FROM classifier.live_turns")


@pytest.mark.parametrize("table, column", [("live_turns", "at"), ("classifier.live_turns; DROP", "at"),
                                           ("classifier.live_turns", "at OR true"), ("classifier.live_turns", "at\n"),
                                           ("a.b.c", "at")])
def test_a_retention_names_a_schema_table_and_a_column(table, column):
    with pytest.raises(ValueError, match="not a schema.table and column name"):
        Retention(table, column)


def test_a_table_is_retained_once():
    twice = [Retention("classifier.live_turns", "at"), Retention("classifier.live_turns", "at")]
    with pytest.raises(ValueError, match="named twice"):
        Housekeeper(None, SERVICE, inbox_keep_days=31, retention=twice)  # type: ignore[arg-type]
