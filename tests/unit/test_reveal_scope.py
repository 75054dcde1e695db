"""Affiliates see only their own cases: a reveal key is scoped by the affiliate that has the case now (its
routing, or its latest transfer; not the consumer-protection office's copy), and the office's `all` key
sees every case. `group`, the holding company, is an affiliate like the others: its key sees only the cases
the holding company has (group points), no longer every case. Channels are shared by the affiliates, so a
channel alone was no scope."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.cli import app as cli
from services.intake.domain.apikeys import ALL, GROUP, ApiKey, check_affiliates
from services.intake.domain.timeline import entry_for, owner_of, timeline_writes
from services.intake.handlers import http
from services.intake.handlers.guard import optional_key
from shared.events import CaseAcknowledged, CaseReopened, CaseRouted, CaseTransferred
from shared.pii_crypto import PiiCipher
from tests.unit.fakes import OneRowPool

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CASE = uuid.UUID("0b9d2c1e-5f3a-4c2b-9a7e-1d2f3a4b5c6d")
REASON = {"reason": "금감원 이첩 민원 회신 자료 작성"}


def key(*affiliates: str, channels: tuple[str, ...] = ("app", "phone")) -> ApiKey:
    return ApiKey("k1", "privacy-" + "-".join(affiliates or ("none",)), "h", channels, ("reveal",), 10, 10,
                  affiliates=affiliates)


def routed(affiliate: str = "card", **extra) -> CaseRouted:
    team = "consumer_protection" if extra.get("copy_reason") else "general"
    return CaseRouted(case_id=CASE, tracking_code="VOC-2026-000001", channel="app", affiliate=affiliate, team=team,
                      kind="complaint", topic="card_payment", urgency="high", text="…", received_at=T0,
                      resolve_due=T0 + timedelta(days=7), **extra)


def transferred(to: str = "bank", from_: str = "card") -> CaseTransferred:
    return CaseTransferred(case_id=CASE, from_affiliate=from_, from_team="general", affiliate=to, team="general",
                           reason="대출 관련 민원", by="staff", resolve_due=T0 + timedelta(days=9))


# --- the key's scope -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scope,owner,sees", [
    (("card",), "card", True),
    (("card",), "bank", False),
    (("card",), "group", False),      # a case the holding company has (group points, or transferred to it)
    (("card",), None, False),         # not routed yet: the channel's affiliate is only a hint
    (("card", "bank"), "bank", True),
    (("all",), "bank", True),         # the office sees every affiliate's cases
    (("all",), "group", True),
    (("all",), None, True),           # and those not routed yet
    (("group",), "group", True),      # the holding company sees its own cases
    (("group",), "bank", False),      # and no other affiliate's
    (("group",), "card", False),
    (("group",), None, False),        # nor one not routed yet
    (("group", "card"), "card", True),
    ((), "card", False),              # a key from before the scope reveals nothing
    ((), None, False),
])
def test_a_key_sees_the_cases_of_its_affiliates_and_the_office_sees_all(scope, owner, sees):
    assert key(*scope).sees_affiliate(owner) is sees


def test_the_offices_scope_is_all_and_group_is_the_holding_company():
    assert (ALL, GROUP) == ("all", "group")
    assert not key("group").sees_affiliate("all")  # `all` is a scope, never an affiliate a case has


def test_an_affiliate_scope_is_checked():
    assert check_affiliates(["card", "bank", "card"]) == ("card", "bank")
    assert check_affiliates(["group"], ["reveal"]) == ("group",)
    assert check_affiliates(["all"], ["reveal"]) == ("all",)
    assert check_affiliates(["all", "all"], ["reveal"]) == ("all",)
    assert check_affiliates(["group", "card"], ["reveal"]) == ("group", "card")  # an affiliate like the others
    assert check_affiliates([], ["submit", "read"]) == ()
    with pytest.raises(ValueError, match=r"unknown affiliate\(s\) \['bakery'\]; choose from bank, card") as bad:
        check_affiliates(["card", "bakery"])
    assert "give all alone for the group's consumer-protection office" in str(bad.value)
    for scope in (["all", "card"], ["group", "all"], ["bank", "all", "insurance"]):
        with pytest.raises(ValueError, match="all already sees every case: give it alone") as both:
            check_affiliates(scope, ["reveal"])
        others = ", ".join(a for a in scope if a != "all")
        assert f"or only {others} for a key that may reveal just those affiliates' cases" in str(both.value)
    with pytest.raises(ValueError, match="a key with the reveal role needs the affiliates") as none:
        check_affiliates([], ["read", "reveal"])
    assert "group (the holding company's own cases" in str(none.value)
    assert "all for the group's consumer-protection office" in str(none.value)


@pytest.mark.parametrize("args,message", [
    (["--roles", "reveal"], "needs the affiliates"),
    (["--roles", "read,reveal", "--affiliates", " , "], "needs the affiliates"),
    (["--roles", "reveal", "--affiliates", "card,bakery"], "unknown affiliate"),
    (["--roles", "reveal", "--affiliates", "all,bank"], "give it alone"),
    (["--roles", "reveal", "--affiliates", "group,all"], "or only group for a key"),
    (["--roles", "reveal", "--affiliates", "everyone"], "give all alone"),
])
def test_keys_create_refuses_a_reveal_key_without_a_good_affiliate_scope_before_touching_the_database(
        monkeypatch, args, message):
    monkeypatch.setenv("DATABASE_URL", "postgresql://moksori@127.0.0.1:1/moksori")  # never reached
    result = CliRunner().invoke(cli, ["keys", "create", "--name", "card-privacy", "--channels", "app", *args])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.replace("│", " ").split())  # the error box wraps the message
    assert "Invalid value for --affiliates" in said and message in said


# --- who has the case, from the events -------------------------------------------------------------------------

def test_the_case_is_its_routings_and_then_its_transfers_not_the_offices_copys():
    assert owner_of(routed("card")) == "card"
    assert owner_of(routed("group", copy_reason=("regulator",))) is None  # the office's copy of a flagged case
    assert owner_of(routed("group")) == "group"  # routed to the office itself (not a copy)
    assert owner_of(routed("card", origin="fss_transfer")) == "card"  # 대외민원: how it came in, not who has it
    assert owner_of(routed("bank", handoff="transferred", handoff_reason="이관")) is None  # its transfer tells it
    assert owner_of(transferred("bank")) == "bank"
    assert owner_of(CaseReopened(case_id=CASE, affiliate="card", team="general", reason="재검토")) is None
    assert owner_of(CaseAcknowledged(case_id=CASE, affiliate="card", team="general", handler_name="김민지",
                                     handler_contact="02-1588-0000", acknowledged_at=T0)) is None


def _owner_after(events: list[tuple[object, datetime]]) -> tuple[str, datetime] | None:
    w = timeline_writes((CASE, f"e{i}", at, e, entry_for(e)) for i, (e, at) in enumerate(events))
    return w.owners.get(CASE)


def test_the_latest_routing_or_transfer_by_event_time_wins_in_any_order():
    """A routing redelivered after the transfer, or the copy arriving last, leaves the case with the
    affiliate it was transferred to."""
    events = [(routed("card"), T0 + timedelta(seconds=2)),
              (routed("group", copy_reason=("regulator",)), T0 + timedelta(seconds=2)),
              (transferred("bank"), T0 + timedelta(seconds=9)),
              (routed("card"), T0 + timedelta(seconds=2))]  # the routing again (a lost ack)
    for order in itertools.permutations(events):
        assert _owner_after(list(order)) == ("bank", T0 + timedelta(seconds=9))
    assert _owner_after(events[:2]) == ("card", T0 + timedelta(seconds=2))  # the copy does not change it
    assert _owner_after([events[1]]) is None


# --- the route ---------------------------------------------------------------------------------------------------

def _reveal(k: ApiKey, owner: str | None, *, channel: str = "app", purged: bool = False):
    cipher = PiiCipher.from_spec(PiiCipher.generate_spec())
    row = {"id": CASE, "channel": channel, "affiliate": owner, "purged_at": T0 if purged else None,
           "text_encrypted": cipher.encrypt(json.dumps({"text": "제 번호 010-9876-5432"}), CASE.bytes)}
    app = FastAPI()
    app.include_router(http.router)
    app.state.runtime = SimpleNamespace(pool=OneRowPool(row))
    app.state.intake = SimpleNamespace(cipher=cipher)
    app.dependency_overrides[optional_key] = lambda: k
    r = TestClient(app).post(f"/v1/voc/{CASE}/reveal", json=REASON)
    audited = [s for s in app.state.runtime.pool.statements if "reveal_audit" in s[0]]
    return r, audited


@pytest.mark.parametrize("scope,owner,status", [
    (("card",), "card", 200),
    (("card",), "bank", 404),
    (("bank",), "bank", 200),
    (("card",), None, 404),
    (("all",), "bank", 200),
    (("all",), "group", 200),
    (("all",), None, 200),
    (("group",), "group", 200),       # a group points case, for the holding company's team
    (("group",), "bank", 404),        # the holding company's key no longer sees the bank's cases
    (("group",), None, 404),
])
def test_reveal_answers_a_case_outside_the_keys_affiliates_as_an_unknown_one(scope, owner, status):
    r, audited = _reveal(key(*scope), owner)
    assert r.status_code == status, r.text
    if status == 200:
        assert r.json()["original"]["text"] == "제 번호 010-9876-5432" and len(audited) == 1
    else:
        assert r.json()["error"] == f"no case {str(CASE)!r} for this key" and not audited
        assert "010-9876" not in r.text


def test_a_purged_case_of_another_affiliate_is_unknown_too_not_gone():
    assert _reveal(key("card"), "bank", purged=True)[0].status_code == 404
    assert _reveal(key("bank"), "bank", purged=True)[0].status_code == 410


def test_the_channel_still_scopes_a_reveal_key():
    assert _reveal(key("card", channels=("email",)), "card")[0].status_code == 404


def test_a_reveal_key_without_an_affiliate_scope_is_refused_whatever_the_case():
    for owner in ("card", None):
        r, audited = _reveal(key(), owner)
        assert r.status_code == 403 and "no affiliate scope" in r.json()["error"] and not audited
        assert "--affiliates" in r.json()["error"] and "--affiliates all" in r.json()["error"]
