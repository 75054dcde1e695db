"""Offline classification: JSONL in, one JSON line out per line in (the evaluation interface).

Uses the same Classifier as the service. Lines are classified in batches; a bad line
produces an `error` object in its place, so output lines stay aligned with input lines:
a line that is not UTF-8, not JSON, not a valid object, or blank gets an error row naming
its line, and the lines around it are classified as usual. Input is read as bytes and split
at "\\n" only (a "\\r" before it and a UTF-8 byte-order mark on line 1 are dropped), so U+2028
or U+0085 inside a JSON string does not split a line. A text is read as the service reads it
(shared/events.py `as_read`: invisible characters dropped, full-width letters plain, Hangul composed)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from services.classifier.domain.classify import Classifier, Item
from shared.cloudevents import describe_validation_error
from shared.datafiles import json_line
from shared.events import MAX_TEXT_CHARS, Affiliate, Channel, as_read

BATCH = 256
BOM = b"\xef\xbb\xbf"


class ClassifyLine(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: StrictInt | StrictStr  # strict: `true` is not the id 1, nor 1.0
    # as the service reads it (shared/events.py `as_read`, as at intake): invisible characters dropped, full-width
    # letters plain, Hangul composed, so offline and the service classify a text alike; a control character gets
    # an error row, and a text with nothing visible is classified as an empty one (`other`, with its reason)
    text: Annotated[str, AfterValidator(as_read)] = Field(max_length=MAX_TEXT_CHARS)
    channel: Channel | None = None
    affiliate_hint: Affiliate | None = None


def _decode(raw: bytes | str, line_no: int) -> tuple[str, str | None]:
    """The line's text without its line end (undecodable bytes replaced), and what is wrong with the line
    (not UTF-8, blank) or None."""
    if isinstance(raw, bytes):
        if line_no == 1 and raw.startswith(BOM):
            raw = raw[len(BOM):]
        raw = raw.rstrip(b"\n").rstrip(b"\r")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            column = len(raw[:exc.start].decode("utf-8", "replace")) + 1
            return raw.decode("utf-8", "replace"), (f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column "
                                                    f"{column}); the input must be UTF-8")
    else:
        text = raw.removeprefix("\ufeff") if line_no == 1 else raw
        text = text.rstrip("\n").rstrip("\r")
    if not text.strip():
        return text, "blank line; expected one JSON object per line"
    return text, None


def classify_stream(src: Iterable[bytes] | Iterable[str], dst: IO[str],
                    classifier: Classifier) -> list[tuple[int, str]]:
    """Classifies every line of `src` (a binary file, ideally; text lines are taken as already decoded) and
    writes one line per input line to `dst`. Returns (line number, message) of the lines that failed."""
    errors: list[tuple[int, str]] = []
    pending: list[tuple[str | int, Item] | dict] = []

    def flush() -> None:
        items = [p[1] for p in pending if isinstance(p, tuple)]
        results = iter(classifier.classify_batch(items))
        for p in pending:
            row = p if isinstance(p, dict) else {"id": p[0], **next(results).model_dump(mode="json")}
            dst.write(json_line(row))
        pending.clear()

    for line_no, raw in enumerate(src, 1):
        line, problem = _decode(raw, line_no)
        if problem is None:
            try:
                item = ClassifyLine.model_validate_json(line)
            except ValidationError as exc:
                problem = describe_validation_error(exc)
            else:
                pending.append((item.id, Item(item.text, item.channel, item.affiliate_hint)))
        if problem is not None:
            errors.append((line_no, problem))
            pending.append({"id": _id_of(line), "error": f"line {line_no}: {problem}"})
        if len(pending) >= BATCH:
            flush()
    flush()
    return errors


def _id_of(line: str) -> object:
    """The id a bad line gives, to help match its error row; None when it cannot be read."""
    try:
        value = json.loads(line).get("id")
        json.dumps(value, allow_nan=False)  # NaN would make the error row itself invalid JSON
    except (ValueError, AttributeError, RecursionError):
        return None
    return None if isinstance(value, str) and "\ufffd" in value else value
