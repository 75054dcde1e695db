"""Bulk import: when a backfilled row's VOC was received (services/intake/bulk.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.intake import bulk

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def row(**extra):
    return bulk.parse_row({"channel": "app", "text": "이체 한도 상향 신청했는데 처리가 안 됐어요", **extra})


def test_a_row_without_occurred_at_is_received_at_the_import():
    assert bulk.received_at(row(), NOW) is None


def test_a_row_is_received_when_its_source_system_received_it():
    assert bulk.received_at(row(occurred_at="2025-01-03T10:12:00+09:00"), NOW) == datetime(2025, 1, 3, 1, 12,
                                                                                          tzinfo=UTC)


def test_a_source_clock_a_little_ahead_is_tolerated_but_a_future_time_is_an_error():
    ahead = NOW + bulk.CLOCK_SKEW - timedelta(seconds=1)
    assert bulk.received_at(row(occurred_at=ahead.isoformat()), NOW) == ahead
    with pytest.raises(ValueError, match=r"^occurred_at: 2027-01-05T09:00:00\+09:00 is in the future$"):
        bulk.received_at(row(occurred_at="2027-01-05T09:00:00+09:00"), NOW)
