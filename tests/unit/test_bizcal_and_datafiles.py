from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.classifier.domain.lexicon import load_lexicon
from shared.directory import load_directory
from shared.bizcal import load_calendar
from shared.datafiles import DataFileError

CAL = load_calendar()


def kst(*args) -> datetime:
    return datetime(*args, tzinfo=CAL.tz)


def test_fourteen_business_days_skip_weekends():
    # Fri 2026-11-20 → 14 business days later is Thu 2026-12-10
    assert CAL.add_business_days(kst(2026, 11, 20, 10), 14) == kst(2026, 12, 10, 18)


def test_chuseok_and_substitute_holidays_are_not_business_days():
    # Tue 2026-09-22: Wed 23 (1), Thu 24 and Fri 25 추석, Mon 28 (2), Tue 29 (3)
    assert CAL.add_business_days(kst(2026, 9, 22, 9), 3) == kst(2026, 9, 29, 18)
    assert not CAL.is_business_day(kst(2026, 10, 5).date())  # 개천절 대체공휴일


def test_constitution_day_is_a_holiday_again_from_2026():
    assert not CAL.is_business_day(kst(2026, 7, 17).date())  # 제헌절, a public holiday again (2026-02 amendment)
    assert CAL.is_business_day(kst(2025, 7, 17).date())  # a working day from 2008 to 2025
    # Thu 2026-07-16 → 1 business day later skips Fri 17 and the weekend
    assert CAL.add_business_days(kst(2026, 7, 16, 9), 1) == kst(2026, 7, 20, 18)


def test_receipt_time_is_read_in_korean_time():
    # 2026-11-20 16:00 UTC is already Saturday in Seoul
    assert CAL.add_business_days(datetime(2026, 11, 20, 16, tzinfo=UTC), 1) == kst(2026, 11, 23, 18)


def test_business_days_between():
    assert CAL.business_days_between(kst(2026, 11, 20), kst(2026, 12, 10)) == 14


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "data.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_calendar_error_names_file_and_line(tmp_path):
    p = write(tmp_path, "timezone: Asia/Seoul\nholidays:\n  2026:\n    - {date: 2027-01-01, name: 신정}\n")
    with pytest.raises(DataFileError, match=r"data.yaml:4: holidays.2026.0: holiday 2027-01-01 \(신정\) is listed under 2026"):
        load_calendar(p)


def test_unknown_timezone_is_refused(tmp_path):
    with pytest.raises(DataFileError, match=r"data.yaml:1: timezone"):
        load_calendar(write(tmp_path, "timezone: Mars/Olympus\n"))


def test_broken_yaml_names_the_line(tmp_path):
    with pytest.raises(DataFileError, match=r"data.yaml:\d+: not valid YAML"):
        load_calendar(write(tmp_path, "timezone: Asia/Seoul\nholidays:\n  - [unclosed\n"))


def test_lexicon_pattern_that_does_not_compile_is_reported(tmp_path):
    text = Path(load_lexicon.__defaults__[0]).read_text(encoding="utf-8").replace("'금융위원회',", "'금융(위원회',", 1)
    with pytest.raises(DataFileError, match=r"data.yaml:\d+: flags.regulator.terms: .*does not compile"):
        load_lexicon(write(tmp_path, text))


def test_directory_missing_a_team_is_reported_with_its_line(tmp_path):
    text = Path(load_directory.__defaults__[0]).read_text(encoding="utf-8").replace("  fraud_response: 사고대응팀\n", "")
    with pytest.raises(DataFileError, match=r"data.yaml:\d+: teams: missing \['fraud_response'\]"):
        load_directory(write(tmp_path, text))


def test_directory_negative_denominator_is_reported(tmp_path):
    text = Path(load_directory.__defaults__[0]).read_text(encoding="utf-8").replace("count: 9800000", "count: -5")
    with pytest.raises(DataFileError, match=r"data.yaml:\d+: affiliates.card.denominator.count"):
        load_directory(write(tmp_path, text))


def test_each_year_has_its_own_denominator_and_a_bad_one_is_reported(tmp_path):
    card = load_directory().affiliates["card"].denominator
    assert card.for_year(2025) == 9_500_000 and card.for_year(2026) == card.count == 9_800_000
    text = Path(load_directory.__defaults__[0]).read_text(encoding="utf-8").replace("2025: 9500000", "2025: 0")
    with pytest.raises(DataFileError, match=r"data.yaml:\d+: affiliates.card.denominator.by_year.2025"):
        load_directory(write(tmp_path, text))
