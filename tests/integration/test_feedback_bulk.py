"""Feedback's bulk paths against real PostgreSQL: a fetched batch of survey answers (and of
their FeedbackSubmitted facts) written in one statement must leave exactly what the one-at-a-time
path leaves; whatever the bulk path does not take is left for it, in order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.feedback.domain.survey import issue_token
from services.feedback.entrypoint import MIGRATIONS
from services.feedback.handlers.events import on_fact, on_submit
from shared import db
from shared.cloudevents import envelope_for
from shared.consumer import Delivery
from shared.events import FeedbackSubmitted, SubmitFeedback
from shared.outbox import Outbox

pytestmark = pytest.mark.integration

SECRET = "test-survey-secret"
SEED = """INSERT INTO feedback.surveys (case_id, affiliate, team, channel, delivery, requested_at, expires_at)
          VALUES ($1, 'card', 'general', 'app', 'app_push', now(), now() + interval '7 days')"""


@pytest.fixture
async def conn(database_url):
    c = await db.connect(database_url)
    await db.migrate(c, "feedback", MIGRATIONS)
    yield c  # other tests share the database: every check below is about this test's own case ids
    await c.close()


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
             answer(poor, csat=1, nps=2)]  # service recovery: left (it needs its own transaction)
    async with conn.transaction():
        rest = await process.bulk(conn, batch)
    assert [d.msg.case_id for d in rest] == [a, c, poor, answered, unknown]  # the left ones first, then the unrecorded
    for d in rest:  # then `process` decides each (as the consumer does), reusing what bulk already checked
        if d.msg.case_id == poor:
            async with conn.transaction():
                await process(conn, d)
    mine = [a, b, c, answered, unknown, poor]
    rows = {r["case_id"]: r["csat"] for r in await conn.fetch(
        "SELECT case_id, csat FROM feedback.responses WHERE case_id = ANY($1)", mine)}
    assert rows == {a: 5, b: 3, answered: 4, poor: 1}
    events = await conn.fetch("SELECT headers->>'ce-subject' AS case_id FROM feedback.outbox "
                              "WHERE headers->>'ce-subject' = ANY($1)", [str(x) for x in mine])
    # one FeedbackSubmitted per answer, and for the poor rating the service recovery's alert and reopening
    assert sorted(e["case_id"] for e in events) == sorted([str(a), str(b)] + [str(poor)] * 3)


async def test_a_batch_of_ratings_updates_the_facts_once_each_and_leaves_cases_without_facts(conn):
    known, unknown = uuid.uuid4(), uuid.uuid4()
    await conn.execute("INSERT INTO feedback.case_facts (case_id) VALUES ($1)", known)
    at = datetime.now(UTC)

    def rated(case_id, csat):
        msg = FeedbackSubmitted(case_id=case_id, csat=csat, nps=8, ces=3, submitted_at=at)
        return Delivery(env=envelope_for(msg, source="moksori/test"), msg=msg, raw=None)  # type: ignore[arg-type]

    batch = [rated(known, 2), rated(unknown, 4), rated(known, 5)]
    async with conn.transaction():
        rest = await on_fact.bulk(conn, batch)
    assert [d.msg.case_id for d in rest] == [unknown]  # no facts row yet: the one-at-a-time path creates it
    row = await conn.fetchrow("SELECT csat, nps, ces FROM feedback.case_facts WHERE case_id = $1", known)
    assert tuple(row) == (5, 8, 3)  # the last rating of the case wins, as in stream order
