"""Live calls: each STT segment is stored (encrypted) and, at the same time, forwarded
masked for screening; at call end, or when an alert comes in for an ended call, the
segments become one phone case."""

from __future__ import annotations

import asyncio

import asyncpg

from services.intake.domain.calls import Segment, assemble, case_text, opens_case
from services.intake.handlers.submit import IntakeDeps, submit_voc
from shared.consumer import Delivery, Process
from shared.events import (AlertRaised, CallEnded, CallSegment, CallSegmentsReceived, SttSegment, VocSubmission,
                           case_id_for_call, segments_event_id)
from shared.outbox import Outbox, PublishNow
from shared.pii import mask_speech

INSERT_SEGMENT = """
INSERT INTO intake.call_segments (call_id, seq, speaker, text_encrypted, ts) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING RETURNING seq"""
INSERT_CALL = """
INSERT INTO intake.calls (call_id, ended_at, outcome, affiliate, customer_encrypted, summary_encrypted)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"""
# many segments at once (their masked copies are published straight away, see `bulk`)
INSERT_SEGMENTS = """
INSERT INTO intake.call_segments (call_id, seq, speaker, text_encrypted, ts)
SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::bytea[], $5::timestamptz[])
ON CONFLICT DO NOTHING"""
LOCK_CALL = "SELECT call_id, outcome, affiliate, customer_encrypted, summary_encrypted, case_id FROM intake.calls WHERE call_id = $1 FOR UPDATE"
CALL_SEGMENTS = "SELECT seq, speaker, text_encrypted, ts FROM intake.call_segments WHERE call_id = $1"
CALL_ALERTS = "SELECT reason FROM intake.call_alerts WHERE call_id = $1"
INSERT_ALERT = "INSERT INTO intake.call_alerts (call_id, reason) VALUES ($1, $2) ON CONFLICT DO NOTHING"
SET_CASE = "UPDATE intake.calls SET case_id = $2 WHERE call_id = $1"
# call end and a late alert may race; one lock per call makes exactly one of them open the case
LOCK_CALL_ID = "SELECT pg_advisory_xact_lock(hashtext('intake.call:' || $1))"


def _ctx(call_id: str) -> bytes:
    return f"call:{call_id}".encode()


# a copy message stays well under NATS's 1 MB payload limit, however long the batch's turns are
COPY_BYTES = 256 * 1024


def masked(m: SttSegment) -> CallSegment:
    """The masked copy of a segment that live screening reads."""
    return CallSegment(case_id=case_id_for_call(m.call_id), call_id=m.call_id, seq=m.seq, speaker=m.speaker,
                       text=mask_speech(m.text), ts=m.ts, affiliate=m.affiliate)


def forward_copies(msgs: list[SttSegment]) -> list[tuple[CallSegmentsReceived, str]]:
    """A batch's masked copies as few messages as fit (one, unless the turns are very long), each with
    an id derived from the segments it holds: one message for a fetched batch, not one per segment,
    saves intake a publish and its ack per segment, and the classifier a delivery and its ack."""
    out, chunk, size = [], [], 0
    for m in msgs:
        weight = 3 * len(m.text) + 300  # UTF-8 Hangul and the segment's other fields
        if chunk and size + weight > COPY_BYTES:
            out.append(chunk)
            chunk, size = [], 0
        chunk.append(masked(m))
        size += weight
    if chunk:
        out.append(chunk)
    return [(CallSegmentsReceived(segments=tuple(c)), segments_event_id(c)) for c in out]


def on_call_ingress(deps: IntakeDeps, outbox: Outbox, publish: PublishNow) -> Process:
    """`publish` (Runtime.publish_now) sends the masked copies of a batch's segments while the
    batch is being stored: screening starts without waiting for intake's transaction."""
    async def process(conn: asyncpg.Connection, d: Delivery) -> None:
        msg = d.msg
        if isinstance(msg, SttSegment):
            stored = await conn.fetchval(INSERT_SEGMENT, msg.call_id, msg.seq, msg.speaker,
                                         deps.cipher.encrypt(msg.text, _ctx(msg.call_id)), msg.ts)
            if stored is not None:  # a duplicate seq is neither stored nor forwarded twice
                for copy, event_id in forward_copies([msg]):
                    await outbox.add(conn, copy, id=event_id)
        elif isinstance(msg, CallEnded):
            await conn.execute(LOCK_CALL_ID, msg.call_id)
            enc = deps.cipher.encrypt
            await conn.execute(INSERT_CALL, msg.call_id, msg.ended_at, msg.outcome, msg.affiliate,
                               enc(msg.customer, _ctx(msg.call_id)) if msg.customer else None,
                               enc(msg.summary, _ctx(msg.call_id)) if msg.summary else None)
            await maybe_open_case(conn, deps, outbox, msg.call_id)

    async def bulk(conn: asyncpg.Connection, ds: list[Delivery]) -> list[Delivery]:
        """Every segment of a fetched batch in one statement, and their masked copies published
        at the same time, not through the outbox, in one message: the copies are a pure function
        of the segments, with an id derived from them, and the batch is acked only once both are
        done. If either fails the batch is not acked and its segments come again (copies already
        sent come again: under the same id, dropped as a duplicate, or in another batch, which
        screening takes as it would the first time). Call ends are left to `process`."""
        segs: dict[tuple[str, int], SttSegment] = {}
        rest = []
        for d in ds:
            if isinstance(d.msg, SttSegment):
                segs.setdefault((d.msg.call_id, d.msg.seq), d.msg)  # a repeated seq counts once
            else:
                rest.append(d)
        if segs:
            msgs = list(segs.values())
            sent = asyncio.ensure_future(publish(forward_copies(msgs)))
            try:
                await conn.execute(INSERT_SEGMENTS, [m.call_id for m in msgs], [m.seq for m in msgs],
                                   [m.speaker for m in msgs],
                                   [deps.cipher.encrypt(m.text, _ctx(m.call_id)) for m in msgs],
                                   [m.ts for m in msgs])
            except BaseException:
                sent.cancel()
                await asyncio.gather(sent, return_exceptions=True)
                raise
            await sent
        return rest

    def idempotent(d: Delivery) -> bool:
        """A segment is stored once per call and seq, and screening takes its copy once per call and
        seq: a redelivery changes nothing, so it needs no inbox row (2,000 a second at peak)."""
        return isinstance(d.msg, SttSegment)

    process.bulk = bulk  # type: ignore[attr-defined]
    process.idempotent = idempotent  # type: ignore[attr-defined]
    return process


def on_call_alert(deps: IntakeDeps, outbox: Outbox) -> Process:
    async def process(conn: asyncpg.Connection, d: Delivery) -> None:
        alert: AlertRaised = d.msg  # type: ignore[assignment]
        if alert.call_id:
            await conn.execute(LOCK_CALL_ID, alert.call_id)
            await conn.execute(INSERT_ALERT, alert.call_id, alert.reason)
            await maybe_open_case(conn, deps, outbox, alert.call_id)

    return process


async def maybe_open_case(conn: asyncpg.Connection, deps: IntakeDeps, outbox: Outbox, call_id: str) -> None:
    call = await conn.fetchrow(LOCK_CALL, call_id)
    if call is None or call["case_id"] is not None:
        return  # still going on, or already a case
    alerts = {r["reason"] for r in await conn.fetch(CALL_ALERTS, call_id)}
    if not opens_case(call["outcome"], alerts):
        return
    dec = deps.cipher.decrypt
    segments = [Segment(r["seq"], r["speaker"], dec(r["text_encrypted"], _ctx(call_id)), r["ts"])
                for r in await conn.fetch(CALL_SEGMENTS, call_id)]
    turns = assemble(segments)
    summary = dec(call["summary_encrypted"], _ctx(call_id)) if call["summary_encrypted"] else None
    body = VocSubmission(
        channel="phone", text=case_text(summary, turns)[:20_000], transcript=turns[:2000],
        kind=call["outcome"] if call["outcome"] != "none" else None, affiliate=call["affiliate"],
        customer=dec(call["customer_encrypted"], _ctx(call_id)) if call["customer_encrypted"] else None,
        channel_message_id=call_id)
    case_id = case_id_for_call(call_id)
    outcome = await submit_voc(conn, deps, outbox, body, idempotency_key=f"call:{call_id}", submitted_by="stt",
                               case_id=case_id)
    if outcome.response.get("case_id") != str(case_id):
        # cannot collide with a call-centre system's case of the same id: since intake migration 008 a channel
        # system's message ids are its own (`stt` here), and the call: key finds this call's own case again
        raise RuntimeError(f"call {call_id}: its case {case_id} could not be opened ({outcome.status})")
    await conn.execute(SET_CASE, call_id, case_id)


