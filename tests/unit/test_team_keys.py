"""Routing's team keys: TEAM_KEYS holds digests, and the team's key is compared by its digest."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from services.cli import app
from shared.team_keys import key_digest, new_team_key, parse_team_keys


def test_a_new_key_is_given_to_the_team_and_only_its_digest_goes_in_team_keys():
    key, entry = new_team_key("card")
    assert key.startswith("tk_card_") and key not in entry and entry == f"card:sha256:{key_digest(key)}"
    assert parse_team_keys(entry) == {key_digest(key): "card"}
    other, other_entry = new_team_key("card")  # a second key for the affiliate: a rotation, or another system
    assert other != key and parse_team_keys(f"{entry},{other_entry}") == {key_digest(key): "card",
                                                                          key_digest(other): "card"}


def test_a_plain_key_is_still_read_for_local_runs_and_kept_only_as_its_digest():
    assert parse_team_keys("bank:bank-0123456789abcdef") == {key_digest("bank-0123456789abcdef"): "bank"}


@pytest.mark.parametrize("spec", ["card:short", "kard:" + "x" * 20, "card:sha256:" + "0" * 63, "card:sha256:" + "G" * 64,
                                  "card", ""])
def test_a_bad_entry_is_refused_naming_what_was_expected(spec):
    with pytest.raises(ValueError, match="expected <affiliate>:sha256:<64 hex digits>|no affiliate keys"):
        parse_team_keys(spec)


def test_the_command_prints_the_key_once_and_the_entry():
    result = CliRunner().invoke(app, ["team-key", "--affiliate", "insurance"])
    assert result.exit_code == 0, result.output
    key = result.output.split("give the team (shown once): ")[1].split()[0]
    entry = result.output.split("add to TEAM_KEYS (comma-separated): ")[1].split()[0]
    assert parse_team_keys(entry) == {key_digest(key): "insurance"}
    assert CliRunner().invoke(app, ["team-key", "--affiliate", "kard"]).exit_code == 2


def test_feedback_takes_consulting_keys_in_the_same_format_and_refuses_a_bad_one_at_load():
    from pydantic import ValidationError

    from services.feedback.settings import FeedbackSettings

    base = {"survey_secret": "s" * 32, "database_url": "postgresql://x@127.0.0.1/x"}
    assert FeedbackSettings(**base).consultation_keys is None  # unset: no consultation is surveyed
    assert FeedbackSettings(**base, consultation_keys=" ").consultation_keys is None  # a blank Secret key too
    _, entry = new_team_key("card")
    assert FeedbackSettings(**base, consultation_keys=entry).consultation_keys == entry
    with pytest.raises(ValidationError, match="consultation_keys[\\s\\S]*expected <affiliate>:sha256"):
        FeedbackSettings(**base, consultation_keys="card:short")


def test_feedback_takes_only_group_keys_for_the_dashboard_and_refuses_others_at_load():
    """The dashboard shows every affiliate's numbers and alerts: an affiliate's key there would let it read
    the others'."""
    from pydantic import ValidationError

    from services.feedback.settings import FeedbackSettings

    base = {"survey_secret": "s" * 32, "database_url": "postgresql://x@127.0.0.1/x"}
    assert FeedbackSettings(**base).dashboard_keys is None  # unset: the numbers are not served
    assert FeedbackSettings(**base, dashboard_keys="").dashboard_keys is None
    _, office = new_team_key("group")
    _, second = new_team_key("group")
    assert FeedbackSettings(**base, dashboard_keys=f"{office},{second}").dashboard_keys == f"{office},{second}"
    _, card = new_team_key("card")
    with pytest.raises(ValidationError, match="dashboard_keys[\\s\\S]*keys for card: the dashboard shows every"):
        FeedbackSettings(**base, dashboard_keys=f"{office},{card}")
    with pytest.raises(ValidationError, match="dashboard_keys[\\s\\S]*expected <affiliate>:sha256"):
        FeedbackSettings(**base, dashboard_keys="group:short")
