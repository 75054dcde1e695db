"""Recording a survey response, the same for HTTP and NATS."""

from __future__ import annotations

import json
from contextlib import nullcontext
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

import asyncpg

from services.feedback.adapters import repository as repo
from services.feedback.domain.survey import Answer, TokenError, is_repeat, verify_token
from services.feedback.domain.rewards import CONSULTATION_RECOVERY, needs_recovery
from shared.events import AlertRaised, Classification, FeedbackSubmitted, Message, ReopenCase, SubmitFeedback
from shared.outbox import Outbox
from shared.pii import mask_text

Outcome = Literal["recorded", "repeated", "conflict"]


class NoSurvey(LookupError):
    pass


Classify = Callable[[str], Classification]


@dataclass(frozen=True)
class Prepared:
    """An answer checked and ready to store: everything but the database."""
    case_id: UUID
    answer: Answer
    recovery: bool
    args: tuple  # RECORD_RESPONSE's parameters


def prepare_response(outbox: Outbox, secret: str, cmd: SubmitFeedback, classify: Classify | None,
                     now: datetime) -> Prepared:
    """Token, range and comment checks (TokenError / ValueError), the comment's masking and
    classification, whether service recovery is needed, and the FeedbackSubmitted outbox row."""
    case_id = verify_token(secret, cmd.token, now)
    if case_id != cmd.case_id:
        raise TokenError("survey token belongs to another case")
    answer = Answer(cmd.csat, cmd.nps, cmd.ces, mask_text(cmd.comment) if cmd.comment else None)
    answer.validate()
    c = classify(answer.comment) if classify and answer.comment else None
    recovery = needs_recovery(answer.csat, answer.nps, c.sentiment if c else None)
    _, event = outbox.row(FeedbackSubmitted(
        case_id=case_id, csat=answer.csat, nps=answer.nps, ces=answer.ces, comment=answer.comment, submitted_at=now))
    args = (case_id, answer.csat, answer.nps, answer.ces, answer.comment, now, c.topic if c else None,
            c.sentiment if c else None, recovery, event[0], event[1], json.dumps(event[2]), event[3])
    return Prepared(case_id, answer, recovery, args)


async def record_response(conn: asyncpg.Connection, outbox: Outbox, secret: str, cmd: SubmitFeedback,
                          classify: Classify | None = None, prepared: Prepared | None = None) -> Outcome:
    """The answer and its FeedbackSubmitted event go in with one statement (one round trip, no
    transaction needed). A poor rating also alerts the team and reopens the case, in a transaction.
    `prepared`: the same command already checked by a bulk path, so it is not checked twice."""
    p = prepared or prepare_response(outbox, secret, cmd, classify, datetime.now(UTC))
    if not p.recovery:
        return await _record(conn, outbox, p.answer, p.recovery, p.args)
    async with conn.transaction():  # the answer, the alert and the reopening together (a savepoint when nested)
        return await _record(conn, outbox, p.answer, p.recovery, p.args)


async def record_many(conn: asyncpg.Connection, outbox: Outbox, answers: list[Prepared]) -> set[UUID]:
    """First answers, one per case, in one statement, and the service recovery they need in one
    more; returns the cases recorded. The others (no survey yet, answered before) are for
    `record_response` to judge. The caller's transaction holds them together."""
    ordered = sorted(answers, key=lambda p: p.case_id)  # every bulk writer locks rows in case order
    rows = await conn.fetch(repo.RECORD_RESPONSES, *[list(c) for c in zip(*(p.args for p in ordered))])
    recover = [m for r in rows if r["recovery"] for m in recovery_messages(r["case_id"], r["affiliate"])]
    if recover:
        await outbox.add_many(conn, recover)
    return {r["case_id"] for r in rows}


async def _record(conn: asyncpg.Connection, outbox: Outbox, answer: Answer, recovery: bool,
                  args: tuple) -> Outcome:
    case_id = args[0]
    for _ in range(2):  # a concurrent first answer can commit between our snapshot and our insert
        row = await conn.fetchrow(repo.RECORD_RESPONSE, *args)
        outcome = _judged(row, answer, f"case {case_id}")
        if outcome == "recorded" and recovery:
            await outbox.add_many(conn, recovery_messages(case_id, row["affiliate"]))
        if outcome:
            return outcome
    return "conflict"


def _judged(row, answer: Answer, surveyed: str) -> Outcome | None:
    """What a RECORD_*RESPONSE row says of the answer: recorded, the same as the earlier one, or another;
    None when a concurrent first answer hid it (ask again)."""
    if not row["has_survey"]:
        raise NoSurvey(f"no survey was sent for {surveyed}")
    if row["inserted"]:
        return "recorded"
    if row["answered"]:
        earlier = Answer(row["csat"], row["nps"], row["ces"], row["comment"])
        return "repeated" if is_repeat(earlier, answer) else "conflict"
    return None


async def record_consultation_response(conn: asyncpg.Connection, outbox: Outbox, consultation_id: UUID,
                                       answer: Answer, classify: Classify | None, now: datetime) -> Outcome:
    """A consultation's answer (the comment masked, then classified as a case's is), once; the same answer
    again is a repeat, another a conflict. A poor first answer (as for a case: `needs_recovery`) alerts the
    affiliate's supervisors in the same transaction (`consultation_recovery`); there is no case to reopen."""
    answer = Answer(answer.csat, answer.nps, answer.ces, mask_text(answer.comment) if answer.comment else None)
    answer.validate()
    c = classify(answer.comment) if classify and answer.comment else None
    recovery = needs_recovery(answer.csat, answer.nps, c.sentiment if c else None)
    # the answer and its alert together; an answer alone is one statement, in no transaction of its own
    async with conn.transaction() if recovery else nullcontext():
        for _ in range(2):  # a concurrent first answer can commit between our snapshot and our insert
            row = await conn.fetchrow(repo.RECORD_CONSULTATION_RESPONSE, consultation_id, answer.csat, answer.nps,
                                      answer.ces, answer.comment, now, c.topic if c else None,
                                      c.sentiment if c else None)
            outcome = _judged(row, answer, f"consultation {consultation_id}")
            if outcome == "recorded" and recovery:
                await outbox.add(conn, consultation_recovery(consultation_id, row["affiliate"], row["ref"], answer))
            if outcome:
                return outcome
    return "conflict"


def consultation_recovery(consultation_id: UUID, affiliate: str, ref: str | None, answer: Answer) -> AlertRaised:
    """A consultation's poor rating: its affiliate's supervisors call the customer back (service recovery).
    `case_id` is the consultation's id (no case exists); `ref` the consulting system's own id, to find it."""
    scores = ", ".join(f"{name} {value}" for name, value in (("CSAT", answer.csat), ("NPS", answer.nps),
                                                             ("CES", answer.ces)) if value is not None)
    return AlertRaised(case_id=consultation_id, reason=CONSULTATION_RECOVERY, severity="high", affiliate=affiliate,
                       message=f"상담 만족도 낮음({scores}): 상담 {ref or consultation_id} 고객 회복 조치 필요")


def recovery_messages(case_id: UUID, affiliate: str) -> list[Message]:
    """Service recovery: the team is alerted and the case goes back to it."""
    return [AlertRaised(case_id=case_id, reason="service_recovery", severity="high", affiliate=affiliate,
                        message="고객 만족도 낮음: 서비스 회복 조치 필요"),
            ReopenCase(case_id=case_id, reason="고객 만족도 조사 결과 불만족: 서비스 회복")]
