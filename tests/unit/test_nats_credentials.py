"""`moksori nats-auth`: new passwords for all, or, from the last run's credentials, for some only."""

from __future__ import annotations

import json

import bcrypt
import pytest
from typer.testing import CliRunner

from services.cli import app
from shared.natsauth import Credentials, generate_credentials, load_credentials, server_config, user_names


def run(*args: str):
    return CliRunner().invoke(app, ["nats-auth", *args], env={"COLUMNS": "300"})


def said(output: str) -> str:
    """The output without the error panel's frame and line breaks."""
    return " ".join(output.replace("│", " ").split())


def test_rotating_changes_only_the_named_users_and_adds_users_new_since():
    first = generate_credentials()
    assert {k: c.user for k, c in first.items()} == user_names()
    previous = {k: c for k, c in first.items() if k != "ingress-stt"}  # as if ingress-stt were added since
    second = generate_credentials(previous, rotate=["services", "card"])
    changed = {k for k in second if second[k] != first[k]}
    assert changed == {"services", "card", "ingress-stt"}
    assert second["services"].user == "moksori-services" and second["card"].user == "team-card"
    with pytest.raises(ValueError, match=r"unknown user\(s\) \['kard'\]; the users are \["):
        generate_credentials(first, rotate=["kard"])


def test_a_kept_password_is_only_kept_for_the_same_user_name():
    previous = generate_credentials() | {"card": Credentials("card-old-name", "secret-123")}
    assert generate_credentials(previous)["card"].user == "team-card"
    assert generate_credentials(previous)["card"].password != "secret-123"


def test_the_command_keeps_the_other_passwords_and_says_which_changed(tmp_path):
    conf, creds, creds2 = tmp_path / "auth.conf", tmp_path / "c1.json", tmp_path / "c2.json"
    assert run("--out", str(conf), "--credentials", str(creds)).exit_code == 0
    result = run("--out", str(conf), "--credentials", str(creds2), "--previous", str(creds), "--rotate", "bank")
    assert result.exit_code == 0, result.output
    assert "new passwords: bank" in result.output
    before, after = load_credentials(creds), load_credentials(creds2)
    assert {k for k in after if after[k] != before[k]} == {"bank"}
    # the servers' config holds bcrypt hashes only: no password from either file is in it
    conf_text = conf.read_text()
    assert not [c.password for c in (*before.values(), *after.values()) if c.password in conf_text]
    hashes = {u["user"]: u["password"] for u in json.loads(conf_text.removeprefix("authorization "))["users"]}
    assert bcrypt.checkpw(after["bank"].password.encode(), hashes["team-bank"].encode())
    assert not bcrypt.checkpw(before["bank"].password.encode(), hashes["team-bank"].encode())
    assert hashes["team-bank"].startswith("$2b$11$")
    assert oct(creds2.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("args,message", [
    (["--rotate", "card"], "needs --previous"),
    (["--previous", "{missing}"], "cannot read it as JSON"),
    (["--previous", "{bad}"], "'card' must be"),
    (["--previous", "{good}", "--rotate", "kard"], "unknown user(s) ['kard']"),
    (["--remove-partner", "easypay"], "needs --previous"),
    (["--previous", "{good}", "--remove-partner", "easypay"], "no partner ['easypay'] in the previous credentials"),
])
def test_bad_arguments_are_refused_with_what_is_wrong(tmp_path, args, message):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({k: vars(c) for k, c in generate_credentials().items()}))
    bad.write_text(json.dumps({"card": {"user": "team-card"}}))
    subs = {"{missing}": str(tmp_path / "nope.json"), "{bad}": str(bad), "{good}": str(good)}
    result = run("--out", str(tmp_path / "a.conf"), "--credentials", str(tmp_path / "c.json"),
                 *[subs.get(a, a) for a in args])
    assert result.exit_code == 2
    assert message in said(result.output), result.output
    assert not (tmp_path / "a.conf").exists()


def test_each_partner_has_a_user_that_may_publish_only_on_its_own_subject():
    creds = generate_credentials(partners=["easypay", "shopmall"])
    assert creds["partner:easypay"].user == "partner-easypay"
    users = {u["user"]: u["permissions"] for u in json.loads(server_config(creds).removeprefix("authorization "))["users"]}
    assert users["partner-easypay"]["publish"]["allow"] == ["$JS.API.INFO", "voc.ingress.voc.easypay"]
    assert users["partner-easypay"]["subscribe"]["allow"] == ["_INBOX_partner-easypay.>"]
    assert not [u for u, perms in users.items() if "voc.ingress.voc" in perms["publish"]["allow"]]  # the old shared one
    kept = generate_credentials(creds, rotate=["partner:shopmall"])  # partners in --previous stay
    assert kept["partner:easypay"] == creds["partner:easypay"] and kept["partner:shopmall"] != creds["partner:shopmall"]
    with pytest.raises(ValueError, match="partner name 'Easy.Pay'"):
        generate_credentials(partners=["Easy.Pay"])


def test_a_partner_is_added_without_changing_anyone_elses_password(tmp_path):
    conf, creds, creds2 = tmp_path / "auth.conf", tmp_path / "c1.json", tmp_path / "c2.json"
    assert run("--out", str(conf), "--credentials", str(creds)).exit_code == 0
    result = run("--out", str(conf), "--credentials", str(creds2), "--previous", str(creds), "--partner", "easypay")
    assert result.exit_code == 0, result.output
    assert "new passwords: partner:easypay" in said(result.output)
    assert run("--out", str(conf), "--credentials", str(creds), "--partner", "a b").exit_code == 2


def test_a_partner_is_removed_without_changing_anyone_elses_password(tmp_path):
    """A partner whose contract ended: its user leaves the config, everyone else keeps their password."""
    conf, creds, creds2 = tmp_path / "auth.conf", tmp_path / "c1.json", tmp_path / "c2.json"
    assert run("--out", str(conf), "--credentials", str(creds), "--partner", "easypay", "--partner", "shopmall"
               ).exit_code == 0
    result = run("--out", str(conf), "--credentials", str(creds2), "--previous", str(creds),
                 "--remove-partner", "easypay")
    assert result.exit_code == 0, result.output
    assert "new passwords: none; no longer users: partner:easypay" in said(result.output)
    before, after = load_credentials(creds), load_credentials(creds2)
    assert after == {k: v for k, v in before.items() if k != "partner:easypay"}
    assert "partner-easypay" not in conf.read_text() and "voc.ingress.voc.easypay" not in conf.read_text()
    assert "partner-shopmall" in conf.read_text()
    # removing and adding the same partner at once is a mistake, blamed on the removal
    result = run("--out", str(conf), "--credentials", str(creds2), "--previous", str(creds),
                 "--remove-partner", "shopmall", "--partner", "shopmall")
    assert result.exit_code == 2 and "--remove-partner" in said(result.output)
    assert "both added (--partner) and removed" in said(result.output)
