"""Bulk import: when a backfilled row's VOC was received (services/intake/bulk.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.intake import bulk
from shared.bizcal import Holiday, load_calendar

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
CALENDAR = load_calendar()  # the shipped one: 2024–2027


def row(**extra):
    return bulk.parse_row({"channel": "app", "text": "이체 한도 상향 신청했는데 처리가 안 됐어요", **extra})


def test_a_row_without_occurred_at_is_received_at_the_import():
    assert bulk.received_at(row(), NOW, CALENDAR) is None


def test_a_row_is_received_when_its_source_system_received_it():
    assert bulk.received_at(row(occurred_at="2025-01-03T10:12:00+09:00"), NOW, CALENDAR) == datetime(2025, 1, 3, 1, 12,
                                                                                          tzinfo=UTC)


def test_a_source_clock_a_little_ahead_is_tolerated_but_a_future_time_is_an_error():
    ahead = NOW + bulk.CLOCK_SKEW - timedelta(seconds=1)
    assert bulk.received_at(row(occurred_at=ahead.isoformat()), NOW, CALENDAR) == ahead
    with pytest.raises(ValueError, match=r"^occurred_at: 2027-01-05T09:00:00\+09:00 is in the future$"):
        bulk.received_at(row(occurred_at="2027-01-05T09:00:00+09:00"), NOW, CALENDAR)


def test_a_row_from_a_year_the_calendar_has_no_holidays_for_is_refused():
    """A 2023 complaint's answer date would count 설 and 추석 as business days."""
    with pytest.raises(ValueError, match=r"^occurred_at: 2023-09-28T10:00:00\+09:00 is in 2023, and the holiday "
                                         r"calendar lists holidays for 2024, 2025, 2026, 2027 only; add 2023's holidays"):
        bulk.received_at(row(occurred_at="2023-09-28T10:00:00+09:00"), NOW, CALENDAR)
    # the year is the calendar's (Korean) one: 2023-12-31 16:00 UTC is already 2024 in Seoul, 14:00 UTC is not
    assert bulk.received_at(row(occurred_at="2023-12-31T16:00:00+00:00"), NOW, CALENDAR) is not None
    with pytest.raises(ValueError, match="is in 2023"):
        bulk.received_at(row(occurred_at="2023-12-31T14:00:00+00:00"), NOW, CALENDAR)
    with_2023 = CALENDAR.model_copy(update={"holidays": {**CALENDAR.holidays, 2023: (
        Holiday(date=datetime(2023, 9, 28).date(), name="추석 연휴"),)}})
    assert bulk.received_at(row(occurred_at="2023-09-28T10:00:00+09:00"), NOW, with_2023) is not None


def test_a_csv_row_carries_the_customers_suggestion_category_and_a_wrong_one_names_the_column(tmp_path):
    """A suggestion backfilled from a 고객 제안 menu keeps the category the customer chose (the report counts
    adoptions per category), as an HTTP submission does."""
    path = tmp_path / "suggestions.csv"
    path.write_text("channel,text,kind,affiliate,channel_message_id,suggestion_category\n"
                    "app,적금 만기 때 같은 조건으로 자동 재예치되면 좋겠어요,suggestion,bank,APP-S-1,process\n"
                    "web,지점 방문 예약을 앱에서 할 수 있게 해주세요,suggestion,bank,WEB-S-2,branch\n"
                    "app,앱 이체 오류 고쳐주세요,complaint,bank,APP-C-3,product\n", encoding="utf-8")
    (line, data, error), (_, wrong, _), (_, misplaced, _) = bulk.read_rows(path)
    assert error is None and bulk.parse_row(data).suggestion_category == "process"
    with pytest.raises(ValueError, match="suggestion_category"):
        bulk.parse_row(wrong)
    with pytest.raises(ValueError, match="suggestion_category is for suggestions"):
        bulk.parse_row(misplaced)


def test_a_csv_saved_by_excel_on_korean_windows_is_read(tmp_path):
    """Excel's "CSV (쉼표로 분리)" is CP949: the import stopped on it with a UnicodeDecodeError traceback."""
    path = tmp_path / "branch.csv"
    path.write_bytes("channel,text,staff_id\nbranch,고객이 통장 재발급 수수료에 대해 항의하심,B12345\n".encode("cp949"))
    [(line, data, error)] = bulk.read_rows(path)
    assert error is None and data["text"] == "고객이 통장 재발급 수수료에 대해 항의하심"
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_bytes('{"channel": "app", "text": "카드 분실"}\n'.encode("utf-16"))
    with pytest.raises(ValueError, match="rows.jsonl: not UTF-8"):
        list(bulk.read_rows(jsonl))
