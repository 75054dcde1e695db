"""Intake keeps the affiliate that has each case (a reveal key is scoped by it) from routing's events, in
whatever order they come: the latest routing or transfer by event time wins, and the consumer-protection
office's copy of a flagged case changes nothing. Migration 009 leaves the keys from before it without a
scope (they reveal nothing) and the cases routed before it without an affiliate (only the office's key
reveals them) until the upgrade note's one-off backfill from routing.cases. Migration 010 gives the office's
keys, scoped `group` until then, the scope `all`: `group` is now the holding company's own cases."""

from __future__ import annotations

import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from services.intake.adapters.apikeys import KeyStore, create_key
from services.intake.entrypoint import MIGRATIONS
from services.intake.handlers.events import on_case_event
from services.routing.entrypoint import MIGRATIONS as ROUTING_MIGRATIONS
from shared import db
from shared.cloudevents import envelope_for
from shared.consumer import Delivery
from shared.events import CaseAcknowledged, CaseRouted, CaseTransferred

pytestmark = pytest.mark.integration
SERVICE = "intake"  # the `conn` fixture (conftest.py) applies its migrations

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
INSERT_CASE = """
INSERT INTO intake.cases (id, tracking_code, channel, request_hash, text_masked, text_encrypted, consent, status,
                          status_rank, received_at, first_response_due, response, status_at)
VALUES ($1, $2, 'app', 'h', '카드 결제가 두 번 됐어요', '\\x00', '{}', 'received', 0, $3, $3, '{}', $3)"""
OWNER = "SELECT affiliate, affiliate_at FROM intake.cases WHERE id = $1"
# the upgrade note's one-off backfill (deploy/README), run once no older intake replica is left
BACKFILL = """
UPDATE intake.cases i
SET affiliate = r.affiliate,
    affiliate_at = GREATEST(i.affiliate_at, i.received_at,
                            (SELECT max(t.at) FROM intake.timeline t WHERE t.case_id = i.id))
FROM routing.cases r
WHERE r.case_id = i.id AND i.affiliate IS DISTINCT FROM r.affiliate AND i.purged_at IS NULL"""


def events(case_id: UUID) -> list[tuple[object, datetime]]:
    """Routed to the card company (+2 s) with a copy to the office (+2 s), acknowledged (+4 s), transferred
    to the bank (+6 s); then the routing delivered again (a lost ack)."""
    routed = dict(case_id=case_id, tracking_code="VOC-2026-000001", channel="app", kind="complaint",
                  topic="card_payment", urgency="high", text="…", received_at=T0, resolve_due=T0 + timedelta(days=7))
    return [
        (CaseRouted(**routed, affiliate="card", team="general"), T0 + timedelta(seconds=2)),
        (CaseRouted(**routed, affiliate="group", team="consumer_protection", copy_reason=("regulator",)),
         T0 + timedelta(seconds=2, microseconds=1)),  # the copy is written just after the routing
        (CaseAcknowledged(case_id=case_id, affiliate="card", team="general", handler_name="김민지",
                          handler_contact="02-1588-0000", acknowledged_at=T0), T0 + timedelta(seconds=4)),
        (CaseTransferred(case_id=case_id, from_affiliate="card", from_team="general", affiliate="bank",
                         team="general", reason="계좌 관련", by="박팀장", resolve_due=T0 + timedelta(days=9)),
         T0 + timedelta(seconds=6)),
        (CaseRouted(**routed, affiliate="bank", team="general", handoff="transferred", handoff_reason="계좌 관련"),
         T0 + timedelta(seconds=6)),
        (CaseRouted(**routed, affiliate="card", team="general"), T0 + timedelta(seconds=2)),  # again, late
    ]


def deliveries(case_id: UUID, order: list[int]) -> list[Delivery]:
    evs = events(case_id)
    # a redelivery has the same event id: the last event is the first one again
    ids = [0, 1, 2, 3, 4, 0]
    return [Delivery(env=envelope_for(evs[i][0], source="moksori/test", id=f"{case_id}-{ids[i]}", time=evs[i][1]),
                     msg=evs[i][0], raw=None) for i in order]  # type: ignore[arg-type]


async def test_the_routing_sets_the_affiliate_and_the_offices_copy_does_not(conn):
    case_id = uuid4()
    await conn.execute(INSERT_CASE, case_id, f"VOC-T-A-{case_id.hex[:8]}", T0)
    assert tuple(await conn.fetchrow(OWNER, case_id)) == (None, None)  # not routed yet
    for d in deliveries(case_id, [0, 1]):
        await on_case_event(conn, d)
    assert tuple(await conn.fetchrow(OWNER, case_id)) == ("card", T0 + timedelta(seconds=2))
    await on_case_event(conn, deliveries(case_id, [1])[0])  # the copy again, later than the routing
    assert tuple(await conn.fetchrow(OWNER, case_id)) == ("card", T0 + timedelta(seconds=2))


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
async def test_the_latest_routing_or_transfer_wins_in_any_order_at_once_or_one_by_one(conn, seed):
    order = list(range(len(events(uuid4()))))
    random.Random(seed).shuffle(order)
    one_by_one, at_once = uuid4(), uuid4()
    for i, case_id in enumerate((one_by_one, at_once)):
        await conn.execute(INSERT_CASE, case_id, f"VOC-T-A{seed}-{i}-{case_id.hex[:6]}", T0)
    for d in deliveries(one_by_one, order):
        async with conn.transaction():
            await on_case_event(conn, d)
    assert await on_case_event.one_statement(conn, deliveries(at_once, order), 5.0) == ([], [])
    for case_id in (one_by_one, at_once):
        assert tuple(await conn.fetchrow(OWNER, case_id)) == ("bank", T0 + timedelta(seconds=6)), order


async def migrate_to(conn, tmp_path: Path, last: int) -> None:
    """Intake's schema as it was after migration `last`: the database an upgrade test starts from."""
    before = tmp_path / f"intake-{last:03d}"
    before.mkdir()
    for f in sorted(Path(MIGRATIONS).glob("*.sql")):
        if int(f.name[:3]) <= last:
            shutil.copy(f, before / f.name)
    await db.migrate(conn, "intake", before)


async def test_keys_and_cases_from_before_the_migration_and_the_upgrade_notes_backfill(database_url, tmp_path):
    """Migration 009 on a database in use: a reveal key from before it gets no scope, a routed case no
    affiliate; the backfill gives the case routing's affiliate, which an older event then cannot undo."""
    conn = await db.connect(database_url)
    try:
        await migrate_to(conn, tmp_path, 8)
        await conn.execute("INSERT INTO intake.api_keys (key_id, name, secret_hash, channels, roles, rate_per_s, "
                           "burst) VALUES ('k0', 'card-privacy', 'h', '{app}', '{read,reveal}', 10, 10)")
        routed, transferred, unrouted = uuid4(), uuid4(), uuid4()
        for case_id in (routed, transferred, unrouted):
            await conn.execute(INSERT_CASE, case_id, f"VOC-T-M-{case_id.hex[:8]}", T0)
        for case_id, at in ((routed, 2), (transferred, 6)):
            await conn.execute("INSERT INTO intake.timeline (case_id, event_id, status, at, message) "
                               "VALUES ($1, 'e', 'routed', $2, '…')", case_id, T0 + timedelta(seconds=at))

        assert await db.migrate(conn, "intake", MIGRATIONS) == ["009_reveal_by_affiliate.sql",
                                                                "010_reveal_scope_all.sql"]
        pool = await db.create_pool(database_url, min_size=1, max_size=1)
        try:
            old_key = await KeyStore(pool).get("k0")
        finally:
            await pool.close()
        assert old_key is not None and old_key.affiliates == () and not old_key.sees_affiliate("card")
        cases = await conn.fetch("SELECT affiliate, affiliate_at FROM intake.cases")
        assert [tuple(c) for c in cases] == [(None, None)] * 3

        await db.migrate(conn, "routing", ROUTING_MIGRATIONS)
        for case_id, affiliate in ((routed, "card"), (transferred, "bank")):
            await conn.execute(
                "INSERT INTO routing.cases (case_id, tracking_code, channel, affiliate, team, kind, topic, urgency, "
                "flags, status, received_at, resolve_due) VALUES ($1, 'VOC', 'app', $2, 'general', 'complaint', "
                "'card_payment', 'high', '{}', 'routed', $3, $3)", case_id, affiliate, T0)
        assert await conn.execute(BACKFILL) == "UPDATE 2"
        owners = {r["id"]: (r["affiliate"], r["affiliate_at"]) for r in await conn.fetch(
            "SELECT id, affiliate, affiliate_at FROM intake.cases")}
        assert owners == {routed: ("card", T0 + timedelta(seconds=2)), transferred: ("bank", T0 + timedelta(seconds=6)),
                          unrouted: (None, None)}
        assert await conn.execute(BACKFILL) == "UPDATE 0"  # run again: nothing to do
        # the transferred case's first routing, redelivered after the upgrade, leaves it with the bank
        late = CaseRouted(case_id=transferred, tracking_code="VOC", channel="app", affiliate="card", team="general",
                          kind="complaint", topic="card_payment", urgency="high", text="…", received_at=T0)
        await on_case_event(conn, Delivery(env=envelope_for(late, source="moksori/test", id="r1",
                                                            time=T0 + timedelta(seconds=2)), msg=late, raw=None))
        assert (await conn.fetchrow(OWNER, transferred))["affiliate"] == "bank"
    finally:
        await conn.close()


ADD_KEY = """
INSERT INTO intake.api_keys (key_id, name, secret_hash, channels, roles, rate_per_s, burst, affiliates, revoked_at)
VALUES ($1, $2, 'h', '{app}', $3, 10, 10, $4, $5)"""


async def test_the_offices_group_keys_become_all_and_group_is_then_the_holding_companys_own(database_url, tmp_path):
    """Migration 010 on a database in use: a key scoped `group` (the office's, until then every case) gets `all`
    and keeps seeing every case, also one not routed yet; other keys keep their scope; a key created with `group`
    afterwards sees only the holding company's own cases (group points)."""
    conn = await db.connect(database_url)
    try:
        await migrate_to(conn, tmp_path, 9)
        for key_id, name, roles, scope, revoked in (
                ("k1", "cpo-privacy", ["reveal"], ["group"], None),
                ("k2", "points-platform", ["read", "reveal"], ["group"], None),
                ("k3", "card-privacy", ["reveal"], ["card"], None),
                ("k4", "bank-insurance-privacy", ["reveal"], ["bank", "insurance"], None),
                ("k5", "app-backend", ["submit", "read"], [], None),
                ("k6", "old-cpo-privacy", ["reveal"], ["group"], T0)):
            await conn.execute(ADD_KEY, key_id, name, roles, scope, revoked)

        assert await db.migrate(conn, "intake", MIGRATIONS) == ["010_reveal_scope_all.sql"]
        scopes = dict(await conn.fetch("SELECT key_id, affiliates FROM intake.api_keys"))
        assert scopes == {"k1": ["all"], "k2": ["all"], "k3": ["card"], "k4": ["bank", "insurance"], "k5": [],
                          "k6": ["all"]}
        await create_key(conn, "group-points-privacy", ["app"], ["reveal"], 10, 10, affiliates=["group"])
        assert await conn.fetchval("SELECT affiliates FROM intake.api_keys WHERE name = 'group-points-privacy'") \
            == ["group"]
        assert await db.migrate(conn, "intake", MIGRATIONS) == []  # applied once: a new `group` key stays `group`

        pool = await db.create_pool(database_url, min_size=1, max_size=1)
        try:
            store = KeyStore(pool)
            office, card = await store.get("k1"), await store.get("k3")
            holding_id = await conn.fetchval("SELECT key_id FROM intake.api_keys WHERE name = 'group-points-privacy'")
            holding = await store.get(holding_id)
        finally:
            await pool.close()
        assert office is not None and card is not None and holding is not None
        assert all(office.sees_affiliate(a) for a in ("bank", "card", "securities", "insurance", "group", None))
        assert card.sees_affiliate("card") and not card.sees_affiliate("group")
        assert holding.sees_affiliate("group")
        assert not any(holding.sees_affiliate(a) for a in ("bank", "card", "securities", "insurance", None))
    finally:
        await conn.close()
