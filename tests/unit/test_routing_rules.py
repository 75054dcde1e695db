import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.routing.domain.directory import load_directory
from services.routing.domain.lifecycle import CaseState, InvalidTransition, acknowledge, resolve
from services.routing.domain.rules import assign
from services.routing.domain.sla import deadlines
from shared.bizcal import load_calendar
from shared.events import AcknowledgeCase, Classification, ResolveCase

DIRECTORY = load_directory()
CAL = load_calendar()


def cls(kind="complaint", topic="card_payment", flags=(), affiliate="card", urgency="normal"):
    return Classification(kind=kind, topic=topic, urgency=urgency, flags=flags, affiliate=affiliate,
                          sentiment="negative", confidence={})


@pytest.mark.parametrize("c,hint,expected", [
    (cls(topic="card_loss_theft"), None, ("card", "fraud_response", ())),
    (cls(topic="fraud_phishing", affiliate="bank"), None, ("bank", "fraud_response", ())),
    (cls(flags=("abusive",)), None, ("card", "special_handling", ())),
    (cls(kind="suggestion", topic="account_transfer", affiliate="bank"), None, ("bank", "suggestions_review", ())),
    (cls(topic="digital_service", affiliate="group"), "securities", ("securities", "general", ())),
    (cls(flags=("media", "regulator")), None, ("card", "general", ("media", "regulator"))),
    (cls(flags=("legal", "vulnerable")), None, ("card", "general", ("legal",))),
])
def test_routing_table(c, hint, expected):
    a = assign(c, hint, DIRECTORY)
    assert (a.affiliate, a.team, a.copy_reason) == expected


def test_critical_is_acknowledged_within_an_hour_around_the_clock():
    saturday_night = datetime(2026, 11, 21, 23, 30, tzinfo=CAL.tz)
    ack, resolve_by = deadlines("critical", saturday_night, DIRECTORY, CAL)
    assert ack == saturday_night + timedelta(hours=1)
    assert resolve_by == datetime(2026, 12, 10, 18, tzinfo=CAL.tz)


def test_high_is_acknowledged_next_business_day():
    friday = datetime(2026, 11, 20, 15, tzinfo=CAL.tz)
    ack, _ = deadlines("high", friday, DIRECTORY, CAL)
    assert ack == datetime(2026, 11, 23, 18, tzinfo=CAL.tz)


def test_normal_has_no_ack_deadline_and_fourteen_business_days_to_resolve():
    ack, resolve_by = deadlines("normal", datetime(2026, 11, 20, 9, tzinfo=CAL.tz), DIRECTORY, CAL)
    assert ack is None and resolve_by == datetime(2026, 12, 10, 18, tzinfo=CAL.tz)


CASE = CaseState(case_id=uuid.uuid4(), affiliate="card", team="general", channel="app", status="routed")
NOW = datetime(2026, 11, 20, tzinfo=UTC)
ACK = AcknowledgeCase(case_id=CASE.case_id, handler_name="김민지", handler_contact="02-1588-0000")
RES = ResolveCase(case_id=CASE.case_id, resolution="환불 완료")


def test_acknowledge_then_repeat_emits_once():
    assert acknowledge(CASE, ACK, NOW).handler_name == "김민지"
    acked = CaseState(**{**CASE.__dict__, "status": "acknowledged", "handler_name": "김민지"})
    assert acknowledge(acked, ACK, NOW) is None


def test_resolve_is_idempotent_but_not_rewritable():
    assert resolve(CASE, RES, NOW).resolution == "환불 완료"
    done = CaseState(**{**CASE.__dict__, "status": "resolved", "resolution": "환불 완료"})
    assert resolve(done, RES, NOW) is None
    with pytest.raises(InvalidTransition):
        resolve(done, ResolveCase(case_id=CASE.case_id, resolution="다른 내용"), NOW)
    with pytest.raises(InvalidTransition):
        acknowledge(done, ACK, NOW)
