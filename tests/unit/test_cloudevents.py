import uuid
from datetime import UTC, datetime

import pytest

from shared.cloudevents import MalformedMessage, decode, encode, envelope_for
from shared.events import (
    AcknowledgeCase, AlertRaised, CaseAcknowledged, CaseResolved, CaseRouted, Classification, Evidence,
    FeedbackSubmitted, ResolveCase, SubmitFeedback, SurveyRequested, VocClassified, VocReceived,
)

NOW = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
CASE = uuid.UUID("7b1f0d7e-2f0a-4c1e-9a51-0d9c5b7a1e01")
CLS = Classification(kind="complaint", topic="card_payment", urgency="high", flags=("regulator",), affiliate="card",
                     sentiment="negative", confidence={"kind": 0.9},
                     evidence=(Evidence(field="flags", label="regulator", rule="regulator", text="금감원에 민원",
                                        start=3, end=10),))

SAMPLES = [
    VocReceived(case_id=CASE, tracking_code="VOC-2026-000123", channel="app", text="카드 결제가 두 번 됐어요",
                received_at=NOW, first_response_due=NOW),
    VocClassified(case_id=CASE, tracking_code="VOC-2026-000123", channel="app", text="카드 결제가 두 번 됐어요",
                  received_at=NOW, classification=CLS, model_version="rules"),
    CaseRouted(case_id=CASE, tracking_code="VOC-2026-000123", channel="app", affiliate="card", team="general",
               kind="complaint", topic="card_payment", urgency="high", text="…", received_at=NOW, resolve_due=NOW),
    CaseAcknowledged(case_id=CASE, affiliate="card", team="general", handler_name="김민지",
                     handler_contact="02-1588-0000", acknowledged_at=NOW),
    CaseResolved(case_id=CASE, affiliate="card", team="general", channel="app", resolution="환불 완료",
                 resolved_at=NOW),
    SurveyRequested(case_id=CASE, channel="app", delivery="app_push", token="t.s", expires_at=NOW),
    FeedbackSubmitted(case_id=CASE, csat=5, nps=9, ces=2, submitted_at=NOW),
    AlertRaised(case_id=CASE, reason="regulator", severity="high", message="감독기관 언급"),
    AcknowledgeCase(case_id=CASE, handler_name="김민지", handler_contact="02-1588-0000"),
    ResolveCase(case_id=CASE, resolution="환불 완료"),
    SubmitFeedback(case_id=CASE, token="t.s", csat=4),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips_through_binary_cloudevents(msg):
    env = envelope_for(msg, source="moksori/test", time=NOW)
    subject, body, headers = encode(msg, env)
    assert headers["ce-specversion"] == "1.0"
    assert headers["Nats-Msg-Id"] == headers["ce-id"] == env.id
    assert headers["ce-subject"] == str(CASE)
    env2, msg2 = decode(headers, body)
    assert msg2 == msg and type(msg2) is type(msg)
    assert env2.id == env.id and env2.time == NOW and env2.source == "moksori/test"
    assert subject == msg.subject()


def test_routed_subject_is_per_affiliate_team():
    assert SAMPLES[2].subject() == "voc.routed.card.general"


def test_events_are_frozen():
    with pytest.raises(Exception):
        SAMPLES[0].text = "changed"  # type: ignore[misc]


@pytest.mark.parametrize("headers,body,needle", [
    ({}, b"{}", "missing CloudEvents header"),
    ({"ce-id": "1", "ce-type": "nope", "ce-source": "x", "ce-specversion": "1.0"}, b"{}", "unknown ce-type"),
    ({"ce-id": "1", "ce-type": VocReceived.TYPE, "ce-source": "x", "ce-specversion": "0.3"}, b"{}", "specversion"),
    ({"ce-id": "1", "ce-type": VocReceived.TYPE, "ce-source": "x", "ce-specversion": "1.0"}, b"{not json", "Invalid JSON"),
    ({"ce-id": "1", "ce-type": FeedbackSubmitted.TYPE, "ce-source": "x", "ce-specversion": "1.0"},
     b'{"case_id": "7b1f0d7e-2f0a-4c1e-9a51-0d9c5b7a1e01", "csat": 9, "submitted_at": "2026-11-20T10:00:00Z"}',
     "csat"),
])
def test_malformed_messages_are_rejected_with_a_reason(headers, body, needle):
    with pytest.raises(MalformedMessage, match=needle):
        decode(headers, body)


def test_decode_refuses_types_the_consumer_does_not_take():
    env = envelope_for(SAMPLES[0], source="x")
    _, body, headers = encode(SAMPLES[0], env)
    with pytest.raises(MalformedMessage, match="not accepted here"):
        decode(headers, body, expect=(CaseResolved,))


def test_a_partner_event_must_carry_the_ce_source_of_the_subjects_partner():
    from shared.events import partner_of, partner_subject

    assert partner_subject("easypay") == "voc.ingress.voc.easypay"
    assert partner_of("voc.ingress.voc.easypay", "easypay") == "easypay"
    assert partner_of("voc.ingress.voc.easypay", "easypay/app") == "easypay"
    for subject, source, message in [
        ("voc.ingress.voc.easypay", "shopmall", "ce-source 'shopmall' is not partner 'easypay'"),
        ("voc.ingress.voc.easypay", "easypayx", "ce-source 'easypayx' is not partner 'easypay'"),
        ("voc.ingress.voc", "easypay", "is not a partner's"),
        ("voc.ingress.call.segment", "easypay", "is not a partner's"),
    ]:
        with pytest.raises(ValueError, match=message):
            partner_of(subject, source)
    for bad in ("", "Easy", "a.b", "a*", "-x", "x" * 41, "import", "moksori"):
        with pytest.raises(ValueError, match="partner name"):
            partner_subject(bad)
    with pytest.raises(ValueError, match="is not a partner's"):  # import:<hash> is bulk import's key space
        partner_of("voc.ingress.voc.import", "import")


def test_an_event_from_a_newer_producer_is_read_without_the_fields_this_version_lacks(caplog):
    """A rolling upgrade: a newer routing's CaseRouted carries a field (and a nested one) an older
    reader does not know. The older reader takes the event, without them, and says so once."""
    import json

    routed = SAMPLES[2]
    _, body, headers = encode(routed, envelope_for(routed, source="moksori/routing"))
    newer = {**json.loads(body), "priority_lane": "vip"}
    _, got = decode(headers, json.dumps(newer).encode())
    assert got == routed and type(got) is CaseRouted
    classified = SAMPLES[1]
    _, body, headers = encode(classified, envelope_for(classified, source="moksori/classifier"))
    newer = json.loads(body)
    newer["classification"]["emotion_score"] = 0.7
    with caplog.at_level("WARNING"):
        assert decode(headers, json.dumps(newer).encode())[1] == classified
        assert decode(headers, json.dumps(newer).encode())[1] == classified
    said = [r.getMessage() for r in caplog.records if "emotion_score" in r.getMessage()]
    assert len(said) == 1 and "classification.emotion_score" in said[0]
    # still malformed: a field it lacks together with a wrong one
    newer["classification"]["urgency"] = "whenever"
    with pytest.raises(MalformedMessage, match="urgency"):
        decode(headers, json.dumps(newer).encode())


def test_commands_stay_strict_about_fields_they_do_not_know():
    """A team's misspelt optional field must be an error, not the default silently taken."""
    import json

    cmd = ResolveCase(case_id=CASE, resolution="환불 완료")
    _, body, headers = encode(cmd, envelope_for(cmd, source="team/card"))
    typo = {**json.loads(body), "outcom": "rejected"}
    with pytest.raises(MalformedMessage, match="outcom: Extra inputs are not permitted"):
        decode(headers, json.dumps(typo).encode())


def test_a_command_without_an_employee_is_written_without_the_field():
    """Feedback's own ReopenCase must stay readable by a routing from before `staff_id` (commands are strict);
    a team's command carries its employee, and both read back as they were."""
    import json

    from shared.events import ReopenCase

    service = ReopenCase(case_id=CASE, reason="고객 만족도 조사 결과 불만족: 서비스 회복")
    team = ResolveCase(case_id=CASE, resolution="환불 완료", staff_id="C2019114")
    for cmd, has_staff in ((service, False), (team, True)):
        _, body, headers = encode(cmd, envelope_for(cmd, source="moksori/test"))
        assert ("staff_id" in json.loads(body)) is has_staff
        assert decode(headers, body)[1] == cmd
