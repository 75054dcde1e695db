"""CloudEvents 1.0, binary content mode, over NATS.

Attributes travel as `ce-*` headers, the event data as a JSON body.
`Nats-Msg-Id` repeats `ce-id`, so JetStream drops duplicate publishes inside its
duplicate window.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from shared.events import BY_TYPE, Message

SPECVERSION = "1.0"
log = logging.getLogger(__name__)
CONTENT_TYPE = "application/json"


class MalformedMessage(ValueError):
    """A message that can never be processed: it goes to the dead-letter subject."""


@dataclass(frozen=True)
class Envelope:
    id: str
    type: str
    source: str
    time: datetime
    subject: str | None = None

    def headers(self) -> dict[str, str]:
        h = {
            "ce-specversion": SPECVERSION,
            "ce-id": self.id,
            "ce-type": self.type,
            "ce-source": self.source,
            "ce-time": self.time.isoformat(),
            "content-type": CONTENT_TYPE,
            "Nats-Msg-Id": self.id,
        }
        if self.subject:
            h["ce-subject"] = self.subject
        return h


def envelope_for(msg: Message, *, source: str, id: str | None = None, time: datetime | None = None) -> Envelope:
    case_id = getattr(msg, "case_id", None)
    return Envelope(id=id or str(uuid.uuid4()), type=msg.TYPE, source=source,
                    time=time or datetime.now(UTC), subject=str(case_id) if case_id else None)


def encode(msg: Message, env: Envelope) -> tuple[str, bytes, dict[str, str]]:
    """Returns (NATS subject, body, headers)."""
    return msg.subject(), msg.model_dump_json().encode(), env.headers()


def decode(headers: dict[str, str] | None, body: bytes, expect: tuple[type[Message], ...] = ()) -> tuple[Envelope, Message]:
    """Parse and validate one CloudEvent; raises MalformedMessage naming what is wrong."""
    h = headers or {}
    missing = [k for k in ("ce-id", "ce-type", "ce-source", "ce-specversion") if not h.get(k)]
    if missing:
        raise MalformedMessage(f"missing CloudEvents header(s): {', '.join(missing)}")
    if h["ce-specversion"] != SPECVERSION:
        raise MalformedMessage(f"ce-specversion {h['ce-specversion']!r} is not {SPECVERSION!r}")
    model = BY_TYPE.get(h["ce-type"])
    if model is None:
        raise MalformedMessage(f"unknown ce-type {h['ce-type']!r}")
    if expect and model not in expect:
        raise MalformedMessage(f"ce-type {h['ce-type']!r} not accepted here; expected {[m.TYPE for m in expect]}")
    try:
        when = datetime.fromisoformat(h["ce-time"]) if h.get("ce-time") else datetime.now(UTC)
    except ValueError as exc:
        raise MalformedMessage(f"ce-time: {exc}") from exc
    try:
        data = model.model_validate_json(body)
    except ValidationError as exc:
        data = _tolerated(model, body, exc)
        if data is None:
            raise MalformedMessage(describe_validation_error(exc)) from exc
    env = Envelope(id=h["ce-id"], type=h["ce-type"], source=h["ce-source"], time=when, subject=h.get("ce-subject"))
    return env, data


_IGNORED: set[tuple[str, str]] = set()  # (event type, field) already logged


def _tolerated(model: type[Message], body: bytes, exc: ValidationError) -> Message | None:
    """A tolerant reader for the services' own events: an event whose only fault is fields this version
    does not know comes from a newer producer (a rolling upgrade: routing already sends
    CaseRouted.duplicate while an older feedback still runs), and is read without them, logged once per
    field. Commands and what outside systems publish stay strict: a misspelt optional field there is an
    error the sender must hear of, not a default silently taken. None: not tolerated."""
    if not model.TOLERANT or any(e["type"] != "extra_forbidden" for e in exc.errors()):
        return None
    data = json.loads(body)
    for e in exc.errors():
        *path, name = e["loc"]
        holder = data
        for step in path:
            holder = holder[step]
        holder.pop(name, None)
        field = ".".join(str(p) for p in e["loc"])
        if (model.TYPE, field) not in _IGNORED:
            _IGNORED.add((model.TYPE, field))
            log.warning("%s: field %r is not known to this version and is ignored (a newer producer?)",
                        model.TYPE, field)
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "body"
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def jsonable_error(exc: ValidationError) -> list[dict]:
    return [{"field": ".".join(str(p) for p in e["loc"]), "error": e["msg"]} for e in json.loads(exc.json())]
