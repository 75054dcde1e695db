"""Intake's Postgres access. SQL is kept here as named constants."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

NEXT_TRACKING_SEQ = "SELECT nextval('intake.tracking_seq')"

INSERT_CASE = """
INSERT INTO intake.cases (id, tracking_code, channel, channel_message_id, idempotency_key, request_hash,
    text_masked, text_encrypted, customer_ref_masked, customer_ref_encrypted, kind_hint, affiliate_hint,
    consent, status, status_rank, occurred_at, received_at, first_response_due, response, submitted_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'received', 0, $14, $15, $16, $17, $18)
ON CONFLICT DO NOTHING
RETURNING id"""

FIND_PRIOR = """
SELECT id, request_hash, response FROM intake.cases
WHERE ($1::text IS NOT NULL AND idempotency_key = $1)
   OR ($2::text IS NOT NULL AND channel = $3 AND channel_message_id = $2)
LIMIT 1"""

INSERT_TIMELINE = """
INSERT INTO intake.timeline (case_id, event_id, status, at, message, detail)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"""

ADVANCE_STATUS = """
UPDATE intake.cases SET status = $2, status_rank = $3, updated_at = now()
WHERE id = $1 AND status_rank < $3"""

CASE_EXISTS = "SELECT 1 FROM intake.cases WHERE id = $1"

GET_CASE = """
SELECT id, tracking_code, channel, status, kind_hint, affiliate_hint, text_masked, received_at,
       first_response_due, expected_resolution, updated_at, purged_at
FROM intake.cases WHERE id::text = $1 OR tracking_code = $1"""

GET_ORIGINAL = "SELECT id, text_encrypted, purged_at FROM intake.cases WHERE id::text = $1 OR tracking_code = $1"

INSERT_REVEAL_AUDIT = """
INSERT INTO intake.reveal_audit (case_id, key_name, reason, client_ip) VALUES ($1, $2, $3, $4)"""

SET_EXPECTED_RESOLUTION = "UPDATE intake.cases SET expected_resolution = $2 WHERE id = $1"

PURGE_ORIGINALS = """
UPDATE intake.cases
SET text_encrypted = ''::bytea, customer_ref_encrypted = NULL, purged_at = now()
WHERE purged_at IS NULL AND status_rank >= $2 AND received_at < now() - make_interval(days => $1)
RETURNING id"""

GET_TIMELINE = "SELECT status, at, message, detail FROM intake.timeline WHERE case_id = $1 ORDER BY at, status"


async def next_seq(conn: asyncpg.Connection) -> int:
    return await conn.fetchval(NEXT_TRACKING_SEQ)


async def find_prior(conn: asyncpg.Connection, idempotency_key: str | None, channel: str,
                     channel_message_id: str | None) -> asyncpg.Record | None:
    if idempotency_key is None and channel_message_id is None:
        return None
    return await conn.fetchrow(FIND_PRIOR, idempotency_key, channel_message_id, channel)


async def add_timeline(conn: asyncpg.Connection, case_id: uuid.UUID, event_id: str, status: str, at: datetime,
                       message: str, detail: dict) -> None:
    await conn.execute(INSERT_TIMELINE, case_id, event_id, status, at, message, detail)
