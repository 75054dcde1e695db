import asyncio
import dataclasses
from pathlib import Path

import asyncpg
import nats.js.errors
import pytest
from nats.js import api

from shared import db
from shared.bus import LIVE_CONTEXT, STREAMS, all_consumers, ensure_topology, missing_topology

pytestmark = pytest.mark.integration


async def test_streams_and_consumers_are_created_twice_without_error(clean_js):
    await ensure_topology(clean_js)
    await ensure_topology(clean_js)
    names = {s.config.name for s in await clean_js.streams_info()}
    assert {s.name for s in STREAMS} <= names
    for spec in all_consumers():
        info = await clean_js.consumer_info(spec.stream, spec.durable)
        assert info.config.filter_subject == spec.filter_subject
        assert info.config.ack_policy == api.AckPolicy.EXPLICIT
        assert info.config.max_deliver == spec.max_deliver
        assert info.config.durable_name == spec.durable


async def test_a_drifted_stream_converges_to_the_declared_config(clean_js):
    await clean_js.add_stream(name="VOC_INTAKE", subjects=["voc.received"], max_age=3600.0)
    await ensure_topology(clean_js)
    info = await clean_js.stream_info("VOC_INTAKE")
    assert info.config.max_age == 14 * 86400


async def test_the_live_segments_stream_gets_its_byte_budget_and_drops_its_oldest(clean_js):
    """A VOC_CALLS created before the budget (2 days, unbounded) is brought to it; beyond it the
    oldest segments go and a new one is still accepted (a flood never blocks the publisher)."""
    await clean_js.add_stream(name="VOC_CALLS", subjects=["voc.call.>"], max_age=2 * 86400.0)
    await ensure_topology(clean_js)
    info = await clean_js.stream_info("VOC_CALLS")
    assert info.config.max_bytes == 4 * 2**30 and info.config.max_age == 86400
    assert info.config.discard == api.DiscardPolicy.OLD
    await clean_js.update_stream(dataclasses.replace(info.config, max_bytes=20_000))  # a small budget, same rule
    for seq in range(100):
        await clean_js.publish("voc.call.segment", b"x" * 500, headers={"Nats-Msg-Id": f"call-1:{seq}"})
    state = (await clean_js.stream_info("VOC_CALLS")).state
    assert state.bytes <= 20_000 and state.last_seq == 100 and state.first_seq > 1


@pytest.mark.parametrize(("stream", "subject", "budget"), [("VOC_INGRESS", "voc.ingress.app", 512 * 2**20),
                                                          ("VOC_COMMANDS", "voc.cmd.case.resolve", 256 * 2**20),
                                                          ("VOC_DLQ", "voc.dlq.classifier", 2**30)])
async def test_a_queue_nobody_else_holds_refuses_publishes_beyond_its_budget_and_drops_nothing(
        clean_js, stream, subject, budget):
    """The work queues and the DLQ, created before their budgets (unbounded, oldest dropped), are
    brought to them; beyond the budget a publish fails loudly and every stored message stays."""
    retention = "limits" if stream == "VOC_DLQ" else "workqueue"
    await clean_js.add_stream(name=stream, subjects=[subject.rsplit(".", 1)[0] + ".>"], retention=retention,
                              max_age=7 * 86400.0)
    await ensure_topology(clean_js, consumers=())
    info = await clean_js.stream_info(stream)
    assert info.config.max_bytes == budget and info.config.discard == api.DiscardPolicy.NEW
    await clean_js.update_stream(dataclasses.replace(info.config, max_bytes=20_000))  # a small budget, same rule
    stored = 0
    with pytest.raises(nats.js.errors.APIError, match="maximum bytes exceeded"):
        for seq in range(100):
            await clean_js.publish(subject, b"x" * 500, headers={"Nats-Msg-Id": f"{stream}:{seq}"})
            stored += 1
    state = (await clean_js.stream_info(stream)).state
    assert 0 < stored < 100 and state.messages == stored and state.first_seq == 1 and state.bytes <= 20_000


async def test_the_live_context_bucket_is_created_as_declared_and_a_drifted_one_converges_keeping_its_keys(clean_js):
    """LIVE_CONTEXT (live screening's call context, shared by the classifier's replicas) is a key-value bucket
    made by nats-py's create_key_value: one value a key, gone 15 minutes after its last write with a marker the
    watchers see, a byte budget beyond which a put is refused. A bucket made otherwise is brought to the
    declaration in place."""
    await ensure_topology(clean_js, consumers=())
    kv = await clean_js.key_value(LIVE_CONTEXT.bucket)
    status = await kv.status()
    assert (status.history, status.ttl, status.marker_ttl) == (1, 15 * 60.0, 60.0)
    cfg = status.stream_info.config
    assert cfg.max_bytes == 64 * 2**20 and cfg.max_msg_size == 1024 and cfg.discard == api.DiscardPolicy.NEW
    assert cfg.storage == api.StorageType.FILE and cfg.subjects == ["$KV.LIVE_CONTEXT.>"]
    await kv.put("Q0FMTC0x", b"1\tx")
    await clean_js.update_stream(dataclasses.replace(cfg, max_age=600.0, max_bytes=2**20, max_msgs_per_subject=5))
    await ensure_topology(clean_js, consumers=())
    status = await kv.status()
    assert (status.history, status.ttl, status.stream_info.config.max_bytes) == (1, 15 * 60.0, 64 * 2**20)
    assert (await kv.get("Q0FMTC0x")).value == b"1\tx"


async def test_team_queues_are_pre_created_pull_consumers(clean_js):
    await ensure_topology(clean_js)
    info = await clean_js.consumer_info("VOC_ROUTED", "team-card-fraud-response")
    assert info.config.filter_subject == "voc.routed.card.fraud_response"
    assert info.config.deliver_subject is None  # pull, so teams and KEDA scale on it


async def test_verify_mode_names_what_is_missing_and_changes_nothing(clean_js):
    """NATS_TOPOLOGY=verify (production, NACK owns the topology): services only look."""
    missing = await missing_topology(clean_js)
    assert "stream VOC_INTAKE" in missing and not any(m.startswith("consumer VOC_INTAKE/") for m in missing)
    assert "bucket LIVE_CONTEXT" in missing
    assert not [s for s in await clean_js.streams_info() if s.config.name.startswith(("VOC_", "KV_"))]
    await ensure_topology(clean_js)
    assert await missing_topology(clean_js) == []
    await clean_js.delete_key_value(LIVE_CONTEXT.bucket)
    assert await missing_topology(clean_js) == ["bucket LIVE_CONTEXT"]
    await ensure_topology(clean_js, consumers=())
    await clean_js.delete_consumer("VOC_ROUTED", "team-card-fraud-response")
    assert await missing_topology(clean_js) == ["consumer VOC_ROUTED/team-card-fraud-response"]
    # a consumer NACK declared differently is reported, not rewritten
    await clean_js.delete_consumer("VOC_INTAKE", "classifier")
    await clean_js.add_consumer("VOC_INTAKE", durable_name="classifier", filter_subject="voc.received",
                                ack_policy=api.AckPolicy.EXPLICIT, max_deliver=3, ack_wait=30.0, max_ack_pending=1000)
    drift: list[str] = []
    await missing_topology(clean_js, drift=drift)
    assert drift == ["consumer VOC_INTAKE/classifier max_deliver is 3, declared 10"]
    assert (await clean_js.consumer_info("VOC_INTAKE", "classifier")).config.max_deliver == 3


async def test_migrations_apply_once_and_refuse_edited_files(database_url, tmp_path: Path):
    (tmp_path / "001_things.sql").write_text("CREATE TABLE probe.things (id int);")
    conn = await asyncpg.connect(database_url)
    try:
        assert await db.migrate(conn, "probe", tmp_path) == ["000_messaging.sql", "001_things.sql",
                                                             "900_outbox_hold.sql", "901_housekeeping_indexes.sql",
                                                             "902_outbox_delete_on_send.sql", "903_outbox_no_pending_index.sql"]
        assert await db.migrate(conn, "probe", tmp_path) == []
        (tmp_path / "002_more.sql").write_text("ALTER TABLE probe.things ADD COLUMN name text;")
        assert await db.migrate(conn, "probe", tmp_path) == ["002_more.sql"]
        (tmp_path / "001_things.sql").write_text("CREATE TABLE probe.things (id bigint);")
        with pytest.raises(db.MigrationError, match="changed after it was applied"):
            await db.migrate(conn, "probe", tmp_path)
    finally:
        await conn.close()


@pytest.mark.parametrize("name,refusal", [
    ("900_mine.sql", "reserved for the shared messaging tables .found 900."),  # a shared version
    ("1_things.sql", "NNN_snake_case"),  # badly named
])
async def test_a_service_migration_that_is_badly_named_or_takes_a_shared_version_is_refused(
        database_url, tmp_path: Path, name, refusal):
    (tmp_path / name).write_text("SELECT 1;")
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(db.MigrationError, match=refusal):
            await db.migrate(conn, "probe", tmp_path)
    finally:
        await conn.close()


async def test_a_migration_behind_a_long_transaction_gives_way_and_retries(database_url, tmp_path: Path):
    (tmp_path / "001_things.sql").write_text("CREATE TABLE probe_lock.things (id int);")
    conn, holder = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:
        await db.migrate(conn, "probe_lock", tmp_path)
        (tmp_path / "002_more.sql").write_text("ALTER TABLE probe_lock.things ADD COLUMN name text;")
        long_tx = holder.transaction()
        await long_tx.start()
        await holder.execute("SELECT * FROM probe_lock.things")  # holds ACCESS SHARE until it ends

        with pytest.raises(db.MigrationError, match="002_more.sql: could not take its locks in 2 attempts"):
            await asyncio.wait_for(  # without a lock timeout the migration would wait forever
                db.migrate(conn, "probe_lock", tmp_path, lock_timeout_s=0.2, attempts=2, retry_pause_s=0.05), 10)
        columns = await conn.fetch("SELECT column_name FROM information_schema.columns "
                                   "WHERE table_schema = 'probe_lock' AND table_name = 'things'")
        assert [r["column_name"] for r in columns] == ["id"]  # nothing changed, nothing recorded
        # between attempts the table is free for the traffic: a lock-queue jumper is not stuck
        other = await asyncpg.connect(database_url)
        try:
            migrating = asyncio.create_task(
                db.migrate(conn, "probe_lock", tmp_path, lock_timeout_s=0.2, attempts=20, retry_pause_s=0.05))
            await asyncio.sleep(0.5)
            assert await asyncio.wait_for(other.fetchval("SELECT count(*) FROM probe_lock.things"), 1.0) == 0
        finally:
            await other.close()
        await long_tx.rollback()  # the long transaction ends: the next attempt goes through
        assert await asyncio.wait_for(migrating, 10) == ["002_more.sql"]
    finally:
        await conn.close()
        await holder.close()


@pytest.mark.parametrize("kwargs", [{"attempts": 0}, {"lock_timeout_s": 0}, {"retry_pause_s": -1}])
async def test_migration_settings_that_would_skip_or_hang_are_refused(database_url, tmp_path: Path, kwargs):
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(ValueError, match="attempts must be >= 1"):
            await db.migrate(conn, "probe_bad", tmp_path, **kwargs)
    finally:
        await conn.close()
