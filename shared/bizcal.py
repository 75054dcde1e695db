"""Korean business-day arithmetic for deadlines (pure; the calendar is data)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.datafiles import load_yaml, located

DEFAULT_CALENDAR = Path(__file__).parent / "data" / "calendar.yaml"
KST = ZoneInfo("Asia/Seoul")  # Korean time: receipt days, reports, what people are shown


class Holiday(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    date: date
    name: str = Field(min_length=1)


class BusinessCalendar(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "Asia/Seoul"
    business_day_end: time = time(18, 0)
    holidays: dict[int, tuple[Holiday, ...]] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as Asia/Seoul") from None
        return v

    @model_validator(mode="after")
    def _years_match(self) -> "BusinessCalendar":
        for year, days in self.holidays.items():
            for i, h in enumerate(days):
                if h.date.year != year:
                    raise located(("holidays", year, i), f"holiday {h.date} ({h.name}) is listed under {year}")
        return self

    # worked out once per calendar (frozen): every accepted case and every routed one asks for a deadline
    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _holiday_dates(self) -> frozenset[date]:
        return frozenset(h.date for days in self.holidays.values() for h in days)

    def holiday_dates(self) -> frozenset[date]:
        return self._holiday_dates

    def missing_years(self, today: date) -> list[int]:
        """This year and next, if the file has no holidays for them: their deadlines would count every
        weekday as a business day (설 and 추석 included), so operators are told at start-up."""
        return [y for y in (today.year, today.year + 1) if y not in self.holidays]

    def is_business_day(self, d: date) -> bool:
        return d.weekday() < 5 and d not in self.holiday_dates()

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """The end of the `days`-th business day after `start` (the day of receipt is
        not counted), in the calendar's time zone."""
        holidays = self.holiday_dates()
        d = start.astimezone(self.tz).date()
        left = days
        while left > 0:
            d += timedelta(days=1)
            if d.weekday() < 5 and d not in holidays:
                left -= 1
        return datetime.combine(d, self.business_day_end, tzinfo=self.tz)

    def business_days_between(self, start: datetime, end: datetime) -> int:
        holidays = self.holiday_dates()
        d, last = start.astimezone(self.tz).date(), end.astimezone(self.tz).date()
        n = 0
        while d < last:
            d += timedelta(days=1)
            if d.weekday() < 5 and d not in holidays:
                n += 1
        return n


def warn_if_incomplete(calendar: BusinessCalendar, path: Path, log) -> None:
    missing = calendar.missing_years(datetime.now(calendar.tz).date())
    if missing:
        log.warning("%s has no holidays for %s: deadlines there count every weekday as a business day; add the "
                    "year's public and bank holidays", path, ", ".join(map(str, missing)))


def load_calendar(path: Path = DEFAULT_CALENDAR) -> BusinessCalendar:
    return load_yaml(path, BusinessCalendar)
