"""CaseResolved in, SurveyRequested out; survey responses from NATS."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from services.feedback.adapters import repository as repo
from services.feedback.domain.survey import TokenError, delivery_for, expiry, issue_token
from services.feedback.handlers.responses import record_response
from shared.consumer import Delivery, Process, Unprocessable
from shared.events import CaseResolved, SurveyRequested
from shared.outbox import Outbox


def on_resolved(outbox: Outbox, secret: str, ttl_days: int) -> Process:
    async def process(conn: asyncpg.Connection, d: Delivery) -> None:
        e: CaseResolved = d.msg  # type: ignore[assignment]
        now = datetime.now(UTC)
        expires = expiry(now, ttl_days)
        delivery = delivery_for(e.channel)
        if await conn.fetchval(repo.INSERT_SURVEY, e.case_id, e.affiliate, e.team, e.channel, delivery, now,
                               expires) is None:
            return  # one survey per case
        await outbox.add(conn, SurveyRequested(case_id=e.case_id, channel=e.channel, delivery=delivery,
                                               token=issue_token(secret, e.case_id, expires), expires_at=expires))

    return process


def on_submit(outbox: Outbox, secret: str) -> Process:
    async def process(conn: asyncpg.Connection, d: Delivery) -> None:
        try:
            outcome = await record_response(conn, outbox, secret, d.msg)  # type: ignore[arg-type]
        except (TokenError, ValueError) as exc:
            raise Unprocessable(str(exc)) from exc
        if outcome == "conflict":
            raise Unprocessable(f"case {d.msg.case_id} already has a different response")
        # NoSurvey propagates and is retried: the survey may still be on its way

    return process
