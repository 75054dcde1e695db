"""Routing's Postgres access: SQL as named constants, rows as domain state."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from services.routing.domain.lifecycle import CaseState

INSERT_CASE = """
INSERT INTO routing.cases (case_id, tracking_code, channel, affiliate, team, kind, topic, urgency, flags,
    copied_to_cpo, status, received_at, ack_due, resolve_due)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'routed', $11, $12, $13)
ON CONFLICT (case_id) DO NOTHING
RETURNING case_id"""

LOCK_CASE = """
SELECT case_id, affiliate, team, channel, status, handler_name, resolution
FROM routing.cases WHERE case_id = $1 FOR UPDATE"""

MARK_ACKNOWLEDGED = """
UPDATE routing.cases SET status = 'acknowledged', acknowledged_at = $2, handler_name = $3, handler_contact = $4
WHERE case_id = $1"""

MARK_RESOLVED = "UPDATE routing.cases SET status = 'resolved', resolved_at = $2, resolution = $3 WHERE case_id = $1"

GET_CASE = """
SELECT case_id, tracking_code, channel, affiliate, team, kind, topic, urgency, flags, copied_to_cpo, status,
       received_at, routed_at, ack_due, resolve_due, acknowledged_at, handler_name, handler_contact,
       resolved_at, resolution
FROM routing.cases WHERE case_id = $1"""


async def lock_case(conn: asyncpg.Connection, case_id: UUID) -> CaseState | None:
    row = await conn.fetchrow(LOCK_CASE, case_id)
    return CaseState(**dict(row)) if row else None
