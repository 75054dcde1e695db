"""Feedback's bulk paths against real PostgreSQL: a fetched batch of survey answers (and of
their ratings and alerts as facts) written in one statement must leave exactly what the
one-at-a-time path leaves; whatever the bulk path does not take is left for it, in order."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.feedback.domain.survey import issue_token
from services.feedback.handlers.events import on_fact, on_submit
from services.feedback.handlers.group_commit import GroupCommit
from services.feedback.handlers.responses import prepare_response
from shared import db
from shared.cloudevents import envelope_for
from shared.consumer import DEAD_LETTER, Delivery
from shared.events import AlertRaised, CaseResolved, FeedbackSubmitted, SubmitFeedback
from shared.outbox import Outbox

pytestmark = pytest.mark.integration

SECRET = "test-survey-secret"
SEED = """INSERT INTO feedback.surveys (case_id, affiliate, team, channel, delivery, requested_at, expires_at)
          VALUES ($1, 'card', 'general', 'app', 'app_push', now(), now() + interval '7 days')"""


SERVICE = "feedback"  # the `conn` fixture (conftest.py) applies its migrations


def answer(case_id, csat=5, nps=9, ces=2, comment=None, token=None) -> Delivery:
    token = token or issue_token(SECRET, case_id, datetime.now(UTC) + timedelta(days=7))
    msg = SubmitFeedback(case_id=case_id, token=token, csat=csat, nps=nps, ces=ces, comment=comment)
    return Delivery(env=envelope_for(msg, source="moksori/test"), msg=msg, raw=None)  # type: ignore[arg-type]


async def test_first_answers_go_in_one_statement_and_the_rest_is_left_in_order(conn):
    process = on_submit(Outbox("feedback", "moksori/test"), SECRET)
    a, b, c, answered, unknown, poor = (uuid.uuid4() for _ in range(6))
    for case in (a, b, c, answered, poor):
        await conn.execute(SEED, case)
    await conn.execute("INSERT INTO feedback.responses (case_id, csat, submitted_at, recovery) VALUES ($1, 4, now(), false)",
                       answered)
    batch = [answer(a), answer(b, csat=3), answer(a, csat=1),  # a second command for a: left to `process`
             answer(answered), answer(unknown),  # answered before / no survey: left
             answer(c, token="forged.token"),  # bad token: left (process dead-letters it)
             answer(poor, csat=1, nps=2)]  # service recovery: taken, with its alert and reopening
    async with conn.transaction():
        rest = await process.bulk(conn, batch)
    assert [d.msg.case_id for d in rest] == [a, c, answered, unknown]  # the left ones first, then the unrecorded
    mine = [a, b, c, answered, unknown, poor]
    rows = {r["case_id"]: r["csat"] for r in await conn.fetch(
        "SELECT case_id, csat FROM feedback.responses WHERE case_id = ANY($1)", mine)}
    assert rows == {a: 5, b: 3, answered: 4, poor: 1}
    events = await conn.fetch("SELECT headers->>'ce-subject' AS case_id, headers->>'ce-type' AS type, body "
                              "FROM feedback.outbox WHERE headers->>'ce-subject' = ANY($1)", [str(x) for x in mine])
    # one FeedbackSubmitted per answer, and for the poor rating the service recovery's alert and reopening
    assert sorted((e["case_id"], e["type"].split(".")[2]) for e in events) == sorted(
        [(str(a), "feedback"), (str(b), "feedback"), (str(poor), "feedback"), (str(poor), "alert"),
         (str(poor), "cmd")])
    alert = next(e for e in events if e["type"].startswith("kr.moksori.alert"))
    assert b'"affiliate":"card"' in alert["body"]  # the survey's affiliate: the alert goes to its team


def delivered(msg) -> Delivery:
    return Delivery(env=envelope_for(msg, source="moksori/test"), msg=msg, raw=None)  # type: ignore[arg-type]


async def test_a_batch_of_ratings_updates_the_facts_once_each_in_one_statement(conn):
    known, unknown = uuid.uuid4(), uuid.uuid4()
    await conn.execute("INSERT INTO feedback.case_facts (case_id, affiliate) VALUES ($1, 'card')", known)
    at = datetime.now(UTC)

    def rated(case_id, csat):
        return delivered(FeedbackSubmitted(case_id=case_id, csat=csat, nps=8, ces=3, submitted_at=at))

    resolved = delivered(CaseResolved(case_id=known, affiliate="card", team="general", channel="app",
                                      resolution="카드 결제 취소 처리 완료", resolved_at=at, within_sla=True))
    batch = [rated(known, 2), rated(unknown, 4), resolved, rated(known, 5)]
    async with conn.transaction():
        rest = await on_fact.bulk(conn, batch)
    assert rest == [resolved]  # not a rating: left to the one-at-a-time path
    rows = {r[0]: tuple(r[1:]) for r in await conn.fetch(
        "SELECT case_id, csat, nps, ces, affiliate FROM feedback.case_facts WHERE case_id = ANY($1)", [known, unknown])}
    # the last rating of the case wins, as in stream order; a rating before its case's other events makes the row
    assert rows == {known: (5, 8, 3, "card"), unknown: (4, 8, 3, None)}


async def test_a_batch_of_alerts_leaves_what_one_at_a_time_leaves(conn):
    """Counts per case, stored once per event id, dead letters stored but never counted on a case."""
    cases = [uuid.uuid4(), uuid.uuid4()]

    def alert(case_id, reason="media", **kw):
        return delivered(AlertRaised(case_id=case_id, reason=reason, severity="high", affiliate="bank",
                                     message="언론 제보 언급", **kw))

    batch = [alert(cases[0]), alert(cases[0], call_id="call-1"), alert(cases[1], reason=DEAD_LETTER)]
    batch.append(batch[0])  # the same event again (a redelivery the inbox let through)
    schemas = {}
    for way in ("bulk", "one"):
        await conn.execute("DELETE FROM feedback.alerts WHERE case_id = ANY($1)", cases)
        await conn.execute("DELETE FROM feedback.case_facts WHERE case_id = ANY($1)", cases)
        async with conn.transaction():
            if way == "bulk":
                assert await on_fact.bulk(conn, batch) == []
            else:
                for d in batch:
                    await on_fact(conn, d)
        schemas[way] = (
            sorted((tuple(r) for r in await conn.fetch(
                "SELECT case_id, reason, call_id FROM feedback.alerts WHERE case_id = ANY($1)", cases)), key=str),
            sorted(tuple(r) for r in await conn.fetch(
                "SELECT case_id, alerts FROM feedback.case_facts WHERE case_id = ANY($1)", cases)))
    assert schemas["bulk"] == schemas["one"]
    assert schemas["bulk"][1] == [(cases[0], 2)]  # the dead letter is counted as an alert, never as a case fact
    assert len(schemas["bulk"][0]) == 3


async def test_answers_arriving_together_over_http_are_committed_together(database_url, conn):
    """Group commit: concurrent answers share transactions; each learns whether its own answer is
    committed, and what the batch leaves (no survey, a second answer in the batch) comes back False."""
    pool = await db.create_pool(database_url)
    outbox = Outbox("feedback", "moksori/test")
    group = GroupCommit(lambda: pool, outbox)
    cases = [uuid.uuid4() for _ in range(40)]
    for case in cases:
        await conn.execute(SEED, case)
    now = datetime.now(UTC)
    answers = [prepare_response(outbox, SECRET, answer(c, csat=1 if i % 10 == 0 else 4).msg, None, now)
               for i, c in enumerate(cases)]
    unknown = prepare_response(outbox, SECRET, answer(uuid.uuid4()).msg, None, now)
    second = prepare_response(outbox, SECRET, answer(cases[5], csat=2).msg, None, now)
    try:
        results = await asyncio.gather(*(group.record(a) for a in [*answers, unknown, second]))
    finally:
        await pool.close()
    assert results[:40] == [True] * 40 and results[40:] == [False, False]
    assert group.batches < 40  # they were written together, not one by one
    rows = dict(await conn.fetch("SELECT case_id, csat FROM feedback.responses WHERE case_id = ANY($1)", cases))
    assert rows == {c: (1 if i % 10 == 0 else 4) for i, c in enumerate(cases)}  # the first answer of cases[5]
    recovery = await conn.fetchval("SELECT count(*) FROM feedback.outbox WHERE headers->>'ce-subject' = ANY($1) "
                                   "AND headers->>'ce-type' LIKE 'kr.moksori.alert%'", [str(c) for c in cases])
    assert recovery == 4  # CSAT 1: the team is alerted, in the same transaction as the answer


async def test_a_failed_group_write_leaves_every_answer_to_be_written_alone(database_url, conn):
    pool = await db.create_pool(database_url)
    outbox = Outbox("feedback", "moksori/test")
    group = GroupCommit(lambda: pool, outbox)
    good, bad = uuid.uuid4(), uuid.uuid4()
    for case in (good, bad):
        await conn.execute(SEED, case)
    now = datetime.now(UTC)
    ok = prepare_response(outbox, SECRET, answer(good).msg, None, now)
    broken = prepare_response(outbox, SECRET, answer(bad).msg, None, now)
    broken = dataclasses.replace(broken, args=broken.args[:-1] + ("not bytes",))  # the statement will fail
    try:
        assert await asyncio.gather(group.record(ok), group.record(broken)) == [False, False]
    finally:
        await pool.close()
    assert await conn.fetchval("SELECT count(*) FROM feedback.responses WHERE case_id = ANY($1)", [good, bad]) == 0


def _case_story(case_id: uuid.UUID, at: datetime) -> list:
    """A case's events as they may reach feedback from several streams: routed twice (the second
    a late re-delivery from another publisher with other details), the office's copy, a transfer,
    a correction, an extension, acknowledgement and resolution."""
    from shared.events import CaseAcknowledged, CaseExtended, CaseReclassified, CaseRouted, CaseTransferred
    routed = dict(case_id=case_id, tracking_code="VOC-2026-000777", channel="app", affiliate="card", team="general",
                  kind="complaint", topic="card_payment", urgency="high", text="결제가 두 번 됐어요",
                  received_at=at, resolve_due=at + timedelta(days=7))
    return [
        CaseRouted(**routed),
        CaseRouted(**{**routed, "affiliate": "group", "team": "consumer_protection"}, copy_reason=("regulator",)),
        CaseRouted(**{**routed, "channel": "web", "urgency": "critical", "repeat": True,
                      "received_at": at + timedelta(days=1), "resolve_due": at + timedelta(days=9)}),
        CaseTransferred(case_id=case_id, from_affiliate="card", from_team="general", affiliate="bank",
                        team="special_handling", reason="은행 계좌 관련 민원", by="김하늘", resolve_due=at),
        CaseReclassified(case_id=case_id, affiliate="bank", team="special_handling", kind="inquiry",
                         topic="account_transfer", previous_kind="complaint", previous_topic="card_payment", by="이서준"),
        CaseExtended(case_id=case_id, affiliate="bank", team="special_handling", reason="관계 부서 확인 필요",
                     business_days=5, resolve_due=at + timedelta(days=14)),
        CaseAcknowledged(case_id=case_id, affiliate="bank", team="special_handling", handler_name="박지민",
                         handler_contact="02-1588-0000", acknowledged_at=at + timedelta(hours=1)),
        CaseResolved(case_id=case_id, affiliate="bank", team="special_handling", channel="app",
                     resolution="중복 결제 취소 완료", resolved_at=at + timedelta(days=2), within_sla=True),
    ]


FACT_COLUMNS = ("SELECT case_id, day, received_at, affiliate, team, topic, kind, channel, origin, urgency, repeat, "
                "acknowledged_at, resolved_at, resolve_due, within_sla, extended, reopened, alerts "
                "FROM feedback.case_facts WHERE case_id = ANY($1)")


@pytest.mark.parametrize("seed", range(12))
async def test_routings_in_one_statement_leave_what_stream_order_leaves(conn, seed):
    """Events of several cases, shuffled (each order is one the streams could deliver): the bulk
    path, routings first in one statement, must leave the facts that applying each event in
    order leaves."""
    import random
    rng = random.Random(seed)
    at = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)  # 00:30 on the 21st in Seoul: the receipt day is the 21st
    cases = [uuid.uuid4() for _ in range(4)]
    stories = [_case_story(c, at) for c in cases]
    order = [e for story in stories for e in rng.sample(story, k=rng.randint(1, len(story)))]
    rng.shuffle(order)
    batch = [delivered(e) for e in order]
    results = {}
    for way in ("bulk", "one"):
        await conn.execute("DELETE FROM feedback.case_facts WHERE case_id = ANY($1)", cases)
        async with conn.transaction():
            rest = await on_fact.bulk(conn, batch) if way == "bulk" else batch
            for d in rest:
                await on_fact(conn, d)
        results[way] = sorted(tuple(r) for r in await conn.fetch(FACT_COLUMNS, cases))
    assert results["bulk"] == results["one"]
    assert all(r[1] == date(2026, 11, 21) for r in results["bulk"] if r[2] == at)  # the receipt day in Korean time


async def test_the_bulk_path_takes_one_routing_per_case_and_leaves_the_rest_in_order(conn):
    case, other = uuid.uuid4(), uuid.uuid4()
    first, copy, second, transferred = (_case_story(case, datetime.now(UTC))[i] for i in (0, 1, 2, 3))
    other_routed = _case_story(other, datetime.now(UTC))[0]
    batch = [delivered(e) for e in (first, copy, transferred, second, other_routed)]
    async with conn.transaction():
        rest = await on_fact.bulk(conn, batch)
    assert [d.msg for d in rest] == [copy, transferred, second]
    assert await conn.fetchval("SELECT count(*) FROM feedback.case_facts WHERE case_id = ANY($1)", [case, other]) == 2
