"""Bulk import of a JSONL or CSV backfill through the same path as HTTP submissions.

Each good row becomes a case (and its VocReceived in the outbox, which the running
intake's relay publishes). A row's idempotency key is the hash of its content, so
re-running a file changes nothing. Bad rows are reported with their line and reason.

A backfill brings VOCs another system received earlier: a row's `occurred_at` is when that
was, and the case is received then. Its tracking code, answer date, SLA clock and the day it
counts in the reports all follow from that time, not from the day of the import, and a
case whose answer date has already passed gets no receipt notice (handlers/submit.py). A row
without `occurred_at` is received at the import."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import ValidationError

from shared.bizcal import BusinessCalendar
from shared.cloudevents import describe_validation_error
from shared.events import VocSubmission

CSV_COLUMNS = ("channel", "text", "kind", "affiliate", "customer", "channel_message_id", "occurred_at",
               "title", "staff_id", "suggestion_category", "consent_cross_affiliate", "consent_marketing")


@dataclass
class ImportResult:
    accepted: int = 0
    replayed: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def _csv_row(row: dict, columns: int) -> dict:
    # DictReader puts a row's extra fields in a list under None, and gives the fields it lacks as None
    fields = columns - list(row.values()).count(None) + len(row.get(None, ()))
    if fields != columns:
        hint = ("put a text containing a comma in double quotes" if fields > columns
                else "give every column, an empty one as nothing between two commas")
        raise ValueError(f"the row has {fields} field{'' if fields == 1 else 's'} but the header has {columns}: {hint}")
    unknown = set(row) - set(CSV_COLUMNS)
    if unknown:
        raise ValueError(f"unknown column(s) {sorted(unknown)}")
    data = {k: v for k, v in row.items() if k and v not in (None, "") and not k.startswith("consent_")}
    consent = {k.removeprefix("consent_"): v.strip().lower() in ("1", "true", "y", "yes", "예")
               for k, v in row.items() if k and k.startswith("consent_") and v not in (None, "")}
    if consent:
        data["consent"] = consent
    return data


def read_rows(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line number, row data or None, error or None) for every non-blank row. A CSV that is not UTF-8
    is read as CP949, what Excel writes for "CSV (쉼표로 분리)" on a Korean Windows."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if path.suffix.lower() != ".csv":
            raise ValueError(f"{path}: not UTF-8 (byte {exc.start}); JSON lines are UTF-8") from None
        try:
            text = data.decode("cp949")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: neither UTF-8 nor CP949 (byte {exc.start}); save it as "
                             "\"CSV UTF-8\"") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        try:
            columns = len(reader.fieldnames or ())
        except csv.Error as exc:
            raise ValueError(f"{path}: line {reader.reader.line_num} (the header): {exc}") from None
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # a field over csv.field_size_limit(), say: that row's error, not the file's
                # DictReader's line_num moves only after a row is read; its csv reader has counted the bad line
                yield reader.reader.line_num, None, f"unreadable CSV: {exc}"
                continue
            try:
                yield reader.line_num, _csv_row(row, columns), None
            except ValueError as exc:
                yield reader.line_num, None, str(exc)
    # not splitlines(): it also splits at U+2028, U+2029 and U+0085, which JSON allows unescaped in a string
    for line_no, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield line_no, None, f"not JSON: {exc.msg} at column {exc.colno}"
            continue
        if not isinstance(data, dict):
            yield line_no, None, "each line must be a JSON object"
            continue
        yield line_no, data, None


def parse_row(data: dict) -> VocSubmission:
    return VocSubmission.model_validate(data)


CLOCK_SKEW = timedelta(minutes=5)  # a source system's clock may run a little ahead of ours


def received_at(body: VocSubmission, now: datetime, calendar: BusinessCalendar) -> datetime | None:
    """When a row's VOC was received: its `occurred_at` (None: now). A time in the future is an
    error in the file (a wrong year or time zone), not a case to be received later. A time in a
    year the holiday calendar has no holidays for is refused too: its answer date and SLA clock
    would count 설, 추석 and every other holiday as business days, and the reports would show
    deadlines that were never the real ones."""
    if body.occurred_at is None:
        return None
    if body.occurred_at > now + CLOCK_SKEW:
        raise ValueError(f"occurred_at: {body.occurred_at.isoformat()} is in the future")
    year = body.occurred_at.astimezone(calendar.tz).year
    if year not in calendar.holidays:
        known = ", ".join(map(str, sorted(calendar.holidays))) or "no year"
        raise ValueError(f"occurred_at: {body.occurred_at.isoformat()} is in {year}, and the holiday calendar lists "
                         f"holidays for {known} only; add {year}'s holidays to it before importing this row")
    return body.occurred_at


def row_key(data: dict) -> str:
    return "import:" + hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:40]


def describe(exc: Exception) -> str:
    return describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
