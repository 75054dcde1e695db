"""CaseResolved in, SurveyRequested out; survey responses from NATS."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import asyncpg

from services.feedback.adapters import facts
from services.feedback.adapters import repository as repo
from services.feedback.domain.survey import TokenError, delivery_for, expiry, issue_token, notice_message
from services.feedback.handlers.responses import Prepared, prepare_response, record_many, record_response
from services.feedback.domain.rewards import RewardTable
from shared.consumer import Delivery, Process, Unprocessable
from shared.events import (AlertRaised, CaseResolved, CaseRouted, CustomerNoticeRequested, FeedbackSubmitted,
                           RewardGranted, SuggestionReviewed, SurveyRequested)
from shared.outbox import Outbox

log = logging.getLogger(__name__)


def on_resolved(outbox: Outbox, secret: str, ttl_days: int, base_url: str = "") -> Process:
    async def process(conn: asyncpg.Connection, d: Delivery) -> None:
        e: CaseResolved = d.msg  # type: ignore[assignment]
        now = datetime.now(UTC)
        expires = expiry(now, ttl_days)
        delivery = delivery_for(e.channel, e.flags)
        if await conn.fetchval(repo.INSERT_SURVEY, e.case_id, e.affiliate, e.team, e.channel, delivery, now,
                               expires) is None:
            return  # one survey per case
        token = issue_token(secret, e.case_id, expires)
        link = f"{base_url}/{token}" if base_url else None
        await outbox.add(conn, SurveyRequested(case_id=e.case_id, channel=e.channel, delivery=delivery, token=token,
                                               link=link, expires_at=expires))
        if e.tracking_code:  # the channel that tells customers reads voc.notice.> only
            await outbox.add(conn, CustomerNoticeRequested(
                case_id=e.case_id, notice="survey", tracking_code=e.tracking_code, channel=e.channel,
                message=notice_message(e.tracking_code, delivery, link, expires), due=expires, link=link,
                delivery=delivery), id=f"survey:{e.case_id}")
        else:
            log.warning("case %s: resolved by a routing from before session 24 (no tracking code), so its survey "
                        "goes out without a customer notice", e.case_id)

    return process


def on_submit(outbox: Outbox, secret: str, classify=None) -> Process:
    prepared: dict[str, Prepared] = {}  # what the batch's bulk path checked (and classified) but left

    async def process(conn: asyncpg.Connection, d: Delivery) -> None:
        try:
            outcome = await record_response(conn, outbox, secret, d.msg, classify,  # type: ignore[arg-type]
                                            prepared=prepared.pop(d.env.id, None))
        except (TokenError, ValueError) as exc:
            raise Unprocessable(str(exc)) from exc
        if outcome == "conflict":
            raise Unprocessable(f"case {d.msg.case_id} already has a different response")
        # NoSurvey propagates and is retried: the survey may still be on its way

    async def bulk(conn: asyncpg.Connection, ds: list[Delivery]) -> list[Delivery]:
        """First answers of a fetched batch in one statement, and their service recovery in one
        more. Anything else (a bad token or range, a second command for a case in the batch, no
        survey yet, an earlier answer) is left to `process`, which decides it exactly as before."""
        prepared.clear()
        if len(ds) < 2:
            return ds  # nothing to gain: `process` alone checks it once
        now = datetime.now(UTC)
        fast: list[tuple[Delivery, Prepared]] = []
        rest: list[Delivery] = []
        cases: set = set()
        for d in ds:
            try:
                p = prepare_response(outbox, secret, d.msg, classify, now)  # type: ignore[arg-type]
            except (TokenError, ValueError):
                rest.append(d)
                continue
            prepared[d.env.id] = p
            if p.case_id in cases:
                rest.append(d)
                continue
            cases.add(p.case_id)
            fast.append((d, p))
        recorded = await record_many(conn, outbox, [p for _, p in fast]) if fast else set()
        return rest + [d for d, p in fast if p.case_id not in recorded]

    process.bulk = bulk  # type: ignore[attr-defined]
    return process


def on_reviewed(outbox: Outbox, rewards: RewardTable) -> Process:
    """An adopted suggestion is rewarded exactly once (the reward row is the guard); a
    rejected one gets a thank-you notice."""

    async def process(conn: asyncpg.Connection, d: Delivery) -> None:
        e: SuggestionReviewed = d.msg  # type: ignore[assignment]
        notice = None
        if e.outcome == "adopted":
            points = rewards.points_for(e.affiliate)
            if await conn.fetchval(repo.INSERT_REWARD, e.case_id, e.affiliate, points) is None:
                return  # already rewarded: a replayed or repeated adoption
            await outbox.add(conn, RewardGranted(case_id=e.case_id, affiliate=e.affiliate, points=points,
                                                 reason=e.reason))
            notice = f"[목소리] 고객님의 제안이 채택되어 {points:,}포인트를 드립니다. 감사합니다."
        else:
            notice = "[목소리] 소중한 제안 감사합니다. 검토 결과 이번에는 반영되지 않았습니다."
        if e.tracking_code and e.channel:
            await outbox.add(conn, CustomerNoticeRequested(case_id=e.case_id, notice="thanks",
                                                           tracking_code=e.tracking_code, channel=e.channel,
                                                           message=notice), id=f"thanks:{e.case_id}")

    return process


async def on_fact(conn: asyncpg.Connection, d: Delivery) -> None:
    if isinstance(d.msg, AlertRaised):
        await facts.record_alerts(conn, [(d.env.id, d.env.time, d.msg)])
    elif isinstance(d.msg, FeedbackSubmitted):
        await facts.record_ratings(conn, [d.msg])
    elif isinstance(d.msg, SuggestionReviewed) and d.msg.reviewed_at is None:  # from a routing before session 21
        await facts.record(conn, d.msg.model_copy(update={"reviewed_at": d.env.time}))
    else:
        await facts.record(conn, d.msg, d.env.time)  # type: ignore[arg-type]


async def _facts_bulk(conn: asyncpg.Connection, ds: list[Delivery]) -> list[Delivery]:
    """The batch's ratings in one statement, its alerts in another and its routings in a third;
    everything else one at a time, in order. Applied in stream order, the last rating of a case
    wins; so it does here. Ratings and alert counts touch columns no other event sets, so taking
    them first changes nothing. A routing keeps the affiliate, team, topic, kind and deadline a
    transfer, reclassification or extension already set (COALESCE), and those overwrite what a
    routing set, so routings commute with the other events too; only a case's second routing in
    the batch is left, to follow its first in order."""
    last: dict = {}
    alerts = []
    routed: dict = {}
    rest = []
    for d in ds:
        if isinstance(d.msg, FeedbackSubmitted):
            last[d.msg.case_id] = d
        elif isinstance(d.msg, AlertRaised):
            alerts.append((d.env.id, d.env.time, d.msg))
        elif isinstance(d.msg, CaseRouted) and not (d.msg.copy_reason or d.msg.handoff) \
                and d.msg.case_id not in routed:
            routed[d.msg.case_id] = d.msg
        else:
            rest.append(d)
    if len(last) + len(alerts) + len(routed) < 2:
        return ds
    if last:
        await facts.record_ratings(conn, [d.msg for d in last.values()])  # type: ignore[misc]
    if alerts:
        await facts.record_alerts(conn, alerts)
    if routed:
        await facts.record_routings(conn, list(routed.values()))
    return rest


on_fact.bulk = _facts_bulk  # type: ignore[attr-defined]
