"""Offline classification: JSONL in, one JSON line out per line in (the evaluation interface).

Uses the same Classifier as the service. Lines are classified in batches; a bad line
produces an `error` object in its place, so output lines stay aligned with input lines."""

from __future__ import annotations

import json
from typing import IO

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.classifier.domain.classify import Classifier, Item
from shared.cloudevents import describe_validation_error
from shared.events import Affiliate, Channel

BATCH = 256


class ClassifyLine(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | int
    text: str = Field(max_length=20_000)
    channel: Channel | None = None
    affiliate_hint: Affiliate | None = None


def classify_stream(src: IO[str], dst: IO[str], classifier: Classifier) -> list[tuple[int, str]]:
    errors: list[tuple[int, str]] = []
    pending: list[tuple[str | int, Item] | dict] = []

    def flush() -> None:
        items = [p[1] for p in pending if isinstance(p, tuple)]
        results = iter(classifier.classify_batch(items))
        for p in pending:
            row = p if isinstance(p, dict) else {"id": p[0], **next(results).model_dump(mode="json")}
            dst.write(json.dumps(row, ensure_ascii=False) + "\n")
        pending.clear()

    for line_no, line in enumerate(src, 1):
        if not line.strip():
            continue
        try:
            item = ClassifyLine.model_validate_json(line)
        except ValidationError as exc:
            message = describe_validation_error(exc)
            errors.append((line_no, message))
            pending.append({"id": _id_of(line), "error": f"line {line_no}: {message}"})
        else:
            pending.append((item.id, Item(item.text, item.channel, item.affiliate_hint)))
        if len(pending) >= BATCH:
            flush()
    flush()
    return errors


def _id_of(line: str) -> object:
    try:
        return json.loads(line).get("id")
    except (ValueError, AttributeError):
        return None
