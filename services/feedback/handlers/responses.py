"""Recording a survey response, the same for HTTP and NATS."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import asyncpg

from services.feedback.adapters import repository as repo
from services.feedback.domain.survey import Answer, TokenError, is_repeat, verify_token
from shared.events import FeedbackSubmitted, SubmitFeedback
from shared.outbox import Outbox
from shared.pii import mask_text

Outcome = Literal["recorded", "repeated", "conflict"]


class NoSurvey(LookupError):
    pass


async def record_response(conn: asyncpg.Connection, outbox: Outbox, secret: str, cmd: SubmitFeedback) -> Outcome:
    now = datetime.now(UTC)
    case_id = verify_token(secret, cmd.token, now)
    if case_id != cmd.case_id:
        raise TokenError("survey token belongs to another case")
    answer = Answer(cmd.csat, cmd.nps, cmd.ces, mask_text(cmd.comment) if cmd.comment else None)
    answer.validate()
    if await conn.fetchval(repo.SURVEY_EXISTS, case_id) is None:
        raise NoSurvey(f"no survey was sent for case {case_id}")
    for _ in range(2):  # a concurrent first answer can win between our read and insert
        existing = await conn.fetchrow(repo.GET_RESPONSE, case_id)
        if existing is not None:
            return "repeated" if is_repeat(Answer(**dict(existing)), answer) else "conflict"
        if await conn.fetchval(repo.INSERT_RESPONSE, case_id, answer.csat, answer.nps, answer.ces,
                               answer.comment, now) is not None:
            await outbox.add(conn, FeedbackSubmitted(case_id=case_id, csat=answer.csat, nps=answer.nps,
                                                     ces=answer.ces, comment=answer.comment, submitted_at=now))
            return "recorded"
    return "conflict"
