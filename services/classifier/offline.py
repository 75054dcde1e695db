"""Offline classification: JSONL in, one JSON line out per line in (the evaluation interface).

Uses the same `classify_text` as the service. A bad line produces an `error`
object in its place, so output lines stay aligned with input lines."""

from __future__ import annotations

import json
from typing import IO

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.classifier.domain.lexicon import Lexicon, load_lexicon
from services.classifier.domain.rules import classify_text
from shared.cloudevents import describe_validation_error
from shared.events import Affiliate, Channel


class ClassifyLine(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | int
    text: str = Field(min_length=1, max_length=20_000)
    channel: Channel | None = None
    affiliate_hint: Affiliate | None = None


def classify_stream(src: IO[str], dst: IO[str], lexicon: Lexicon | None = None) -> list[tuple[int, str]]:
    lex = lexicon or load_lexicon()
    errors: list[tuple[int, str]] = []
    for line_no, line in enumerate(src, 1):
        if not line.strip():
            continue
        try:
            item = ClassifyLine.model_validate_json(line)
        except ValidationError as exc:
            message = describe_validation_error(exc)
            errors.append((line_no, message))
            dst.write(json.dumps({"id": _id_of(line), "error": message}, ensure_ascii=False) + "\n")
            continue
        c = classify_text(item.text, lex, channel=item.channel, affiliate_hint=item.affiliate_hint)
        dst.write(json.dumps({"id": item.id, **c.model_dump(mode="json")}, ensure_ascii=False) + "\n")
    return errors


def _id_of(line: str) -> object:
    try:
        return json.loads(line).get("id")
    except (ValueError, AttributeError):
        return None
