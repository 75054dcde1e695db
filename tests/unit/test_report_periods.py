"""The report's comparisons are like for like: a week against the week 52 weeks back (Monday to
Sunday), and a period still running against the same number of days of the previous period and
of last year's, not against their whole length (23 days of November against all 30 of last
November would read as a fall every month)."""

from __future__ import annotations

from datetime import date

import pytest

from services.feedback.domain.report import Period, build


def span(p: Period) -> tuple[date, date]:
    return p.start, p.end


def test_a_finished_month_compares_whole_months():
    p = Period.of(date(2026, 10, 5), "month", today=date(2026, 11, 23))
    assert p.through is None and p.name == "2026-10"
    assert span(p.previous()) == (date(2026, 9, 1), date(2026, 10, 1))
    assert span(p.last_year()) == (date(2025, 10, 1), date(2025, 11, 1))


def test_a_running_month_compares_the_same_days():
    p = Period.of(date(2026, 11, 23), "month", today=date(2026, 11, 23))
    assert p.through == date(2026, 11, 23) and p.name == "2026-11 (11-23까지)"
    assert span(p) == (date(2026, 11, 1), date(2026, 11, 24))  # the figures are those so far
    assert span(p.last_year()) == (date(2025, 11, 1), date(2025, 11, 24))
    assert span(p.previous()) == (date(2026, 10, 1), date(2026, 10, 24))


def test_a_running_month_longer_than_the_one_before_is_cut_at_that_months_end():
    p = Period.of(date(2026, 3, 30), "month", today=date(2026, 3, 30))
    assert span(p.previous()) == (date(2026, 2, 1), date(2026, 3, 1))


def test_the_last_day_of_a_period_is_a_whole_period():
    p = Period.of(date(2026, 11, 30), "month", today=date(2026, 11, 30))
    assert p.through is None and span(p.last_year()) == (date(2025, 11, 1), date(2025, 12, 1))


def test_a_week_is_compared_with_the_week_52_weeks_back_monday_to_sunday():
    p = Period.of(date(2026, 11, 20), "week")
    assert span(p) == (date(2026, 11, 16), date(2026, 11, 23))
    ly = p.last_year()
    assert span(ly) == (date(2025, 11, 17), date(2025, 11, 24)) and ly.start.weekday() == 0
    assert span(p.previous()) == (date(2026, 11, 9), date(2026, 11, 16))


def test_a_running_week_and_quarter():
    week = Period.of(date(2026, 11, 18), "week", today=date(2026, 11, 18))  # a Wednesday
    assert span(week.last_year()) == (date(2025, 11, 17), date(2025, 11, 20))
    quarter = Period.of(date(2026, 11, 23), "quarter", today=date(2026, 11, 23))
    assert span(quarter.previous()) == (date(2026, 7, 1), date(2026, 8, 24))  # 54 days, as Oct 1 to Nov 23
    assert span(quarter.last_year()) == (date(2025, 10, 1), date(2025, 11, 24))


@pytest.mark.parametrize("day,kind,today,want", [
    (date(2024, 2, 28), "day", None, (date(2023, 2, 28), date(2023, 3, 1))),   # was no day at all
    (date(2025, 2, 28), "day", None, (date(2024, 2, 28), date(2024, 2, 29))),  # was two days
    (date(2024, 2, 29), "day", None, (date(2023, 2, 28), date(2023, 3, 1))),
    (date(2024, 2, 1), "month", date(2024, 2, 28), (date(2023, 2, 1), date(2023, 3, 1))),  # 28 days, was 27
    (date(2024, 2, 1), "month", None, (date(2023, 2, 1), date(2023, 3, 1))),  # all of February each year
    (date(2024, 1, 1), "year", date(2024, 2, 28), (date(2023, 1, 1), date(2023, 3, 1))),  # 59 days, was 58
])
def test_last_year_around_29_february_has_as_many_days(day, kind, today, want):
    assert span(Period.of(day, kind, today=today).last_year()) == want


def test_29_february_and_unknown_kinds():
    assert Period.of(date(2024, 2, 29), "day").last_year().start == date(2023, 2, 28)
    with pytest.raises(ValueError, match="period must be"):
        Period.of(date(2026, 1, 1), "fortnight")


def test_the_report_says_what_it_compared_with():
    p = Period.of(date(2026, 11, 23), "month", today=date(2026, 11, 23))
    period = build(p, [], [], {}, [], [], [], [])["period"]
    assert period["through"] == "2026-11-23"
    assert period["compared_with"] == {"previous": {"from": "2026-10-01", "to": "2026-10-24"},
                                       "last_year": {"from": "2025-11-01", "to": "2025-11-24"}}


def test_the_printed_report_names_the_days_compared():
    from rich.console import Console

    from services.feedback.report_cli import print_table
    console = Console(record=True, width=200)
    print_table(build(Period.of(date(2026, 11, 23), "month", today=date(2026, 11, 23)), [], [], {}, [], [], [], []),
                console)
    text = console.export_text()
    assert "2026-11 (11-23까지)" in text
    assert "전년비: 2025-11-01 ~ 2025-11-23, 급증 유형: 직전 기간 2026-10-01 ~ 2026-10-23과 비교 (2026-11-23까지 같은 일수)" in text
