"""An API key's name is its channel system's, and scopes its Idempotency-Keys."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.intake.domain.apikeys import check_name, scoped_key


def test_an_idempotency_key_is_stored_under_its_channel_systems_name():
    assert scoped_key("card-app-backend", "retry-1") == "http:card-app-backend:retry-1"
    assert scoped_key("card-app-backend", None) is None
    # the same key from two systems is two keys; and none is the key a partner, a call or an import uses
    assert scoped_key("web-gateway", "retry-1") != scoped_key("card-app-backend", "retry-1")
    for other_path in ("easypay:evt-1", "call:CALL-77", "import:" + "ab" * 20):
        assert scoped_key("card-app-backend", other_path) != other_path


@pytest.mark.parametrize("name", ["card-app-backend", "web.gateway", "branch_tablet2", "A1"])
def test_good_key_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "card:app", "-app", "카드앱", "a b", "x" * 64])
def test_a_key_name_that_could_not_scope_its_keys_is_refused(name):
    with pytest.raises(ValueError, match="use 1-63 letters, digits"):
        check_name(name)


@pytest.mark.parametrize("name", ["stt", "bulk-import"])
def test_intakes_own_submitters_names_are_reserved(name):
    """A read key sees the cases submitted under its name: one called stt would see every call's case."""
    with pytest.raises(ValueError, match="is reserved"):
        check_name(name)


def test_keys_create_refuses_a_bad_name_before_touching_the_database(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://moksori@127.0.0.1:1/moksori")  # never reached
    result = CliRunner().invoke(app, ["keys", "create", "--name", "card:app", "--channels", "app"])
    assert result.exit_code == 2, result.output
    assert "--name" in result.output and "card:app" in result.output
