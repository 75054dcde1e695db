import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.intake.domain.submission import (
    MAX_TEXT_CHARS, SubmitVoc, accept, access_secret, request_hash, secret_matches, tracking_code,
)
from services.intake.domain.timeline import STATUS_RANK, entry_for
from shared.bizcal import load_calendar
from shared.events import CaseInfoProvided, CaseRouted, FeedbackSubmitted, SurveyRequested

CAL = load_calendar()


@pytest.mark.parametrize("body,field", [
    ({"channel": "fax", "text": "안녕하세요"}, "channel"),
    ({"channel": "app", "text": "   "}, "text"),
    ({"channel": "app", "text": "가" * (MAX_TEXT_CHARS + 1)}, "text"),
    ({"channel": "app"}, "text"),
    ({"channel": "app", "text": "문의", "kind": "rant"}, "kind"),
    ({"channel": "app", "text": "문의", "occurred_at": "2026-11-20T10:00:00"}, "occurred_at"),
    ({"channel": "app", "text": "문의", "occurred_at": "0001-01-01T00:00:00+09:00"}, "occurred_at"),  # was a 500
    ({"channel": "app", "text": "문의", "colour": "blue"}, "colour"),
])
def test_bad_submissions_name_the_field(body, field):
    with pytest.raises(ValidationError) as exc:
        SubmitVoc.model_validate(body)
    assert field in {str(e["loc"][0]) for e in exc.value.errors()}


def test_acceptance_masks_before_anything_leaves_intake():
    body = SubmitVoc(channel="phone", text="제 번호 010-1234-5678, 카드 4111 1111 1111 1111 도난당했어요",
                     customer="홍길동 850315-1234567", attachments=[  # a channel's free-form content type too
                         {"filename": "통화녹취.m4a", "content_type": "audio/mp4; caller=010-9876-5432", "size": 10}])
    received = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    acc = accept(body, case_id=uuid.uuid4(), seq=123, received_at=received, calendar=CAL, response_days=14)
    assert acc.tracking_code == "VOC-2026-000123"
    dumped = acc.event.model_dump_json()
    for secret in ("5678", "1111 1111 1111", "1234567", "5432"):
        assert secret not in dumped
    assert acc.first_response_due == datetime(2026, 12, 10, 18, tzinfo=CAL.tz)


def test_the_customers_suggestion_category_travels_with_the_case():
    body = SubmitVoc(channel="app", affiliate="card", suggestion_category="new_business",
                     text="카드 포인트로 소상공인 가맹점 응원 기부를 할 수 있게 해주세요")
    acc = accept(body, case_id=uuid.uuid4(), seq=7, received_at=datetime(2026, 11, 20, 1, tzinfo=UTC),
                 calendar=CAL, response_days=14)
    assert acc.event.suggestion_category == "new_business"
    assert SubmitVoc(channel="web", kind="suggestion", suggestion_category="process", text="제안합니다").kind == \
        "suggestion"
    for bad in ({"kind": "complaint", "suggestion_category": "product"}, {"suggestion_category": "marketing"}):
        with pytest.raises(ValidationError) as exc:
            SubmitVoc.model_validate({"channel": "app", "text": "앱 개선 의견입니다", **bad})
        message = str(exc.value)
        assert "suggestion_category" in message, message


def test_tracking_code_and_request_hash_are_stable():
    assert tracking_code(datetime(2027, 1, 2, tzinfo=UTC), 7) == "VOC-2027-000007"
    a = SubmitVoc(channel="app", text="앱이 안 열려요")
    assert request_hash(a) == request_hash(SubmitVoc(channel="app", text=" 앱이 안 열려요 "))
    assert request_hash(a) != request_hash(SubmitVoc(channel="web", text="앱이 안 열려요"))


def test_a_body_sent_before_an_upgrade_hashes_as_it_did():
    """The idempotency hash is stored with the key: a retry across an upgrade that added a field must be
    a replay, not a 409 or a dead-lettered partner event. Pinned to the hashes of session 22's code."""
    suggestion = SubmitVoc(channel="app", affiliate="card", kind="suggestion", text="카드 앱에 가계부 기능을 넣어 주세요")
    assert request_hash(suggestion) == "a081f4e9cd527cc0ff89253524a5dd7a8f6a369a15755278bf30927c69e469e3"
    assert request_hash(SubmitVoc(channel="app", text="앱이 안 열려요")) == \
        "5340d2bb4dc307a63021192bf84ad12853b74384cb28b481a35ecca6a1930f20"
    chosen = suggestion.model_copy(update={"suggestion_category": "product"})
    assert request_hash(chosen) != request_hash(suggestion)  # a category set is part of the request


def test_case_secret_is_per_case():
    key, case = "k" * 32, uuid.uuid4()
    assert secret_matches(key, case, access_secret(key, case))
    assert not secret_matches(key, uuid.uuid4(), access_secret(key, case))
    assert not secret_matches(key, case, None)
    assert not secret_matches(key, case, "비밀")  # not ASCII: no match, and no TypeError (a 500)


def test_timeline_entries_and_ranks():
    now = datetime(2026, 11, 20, tzinfo=UTC)
    case = uuid.uuid4()
    routed = CaseRouted(case_id=case, tracking_code="VOC-2026-000001", channel="app", affiliate="card",
                        team="fraud_response", kind="inquiry", topic="card_loss_theft", urgency="critical",
                        text="…", received_at=now)
    assert entry_for(routed).message == "카드 사고대응팀에 배정되었습니다."
    copy = entry_for(routed.model_copy(update={"affiliate": "group", "team": "consumer_protection",
                                               "copy_reason": ("regulator",)}))
    assert not copy.advances_status
    assert not entry_for(SurveyRequested(case_id=case, channel="app", delivery="app_push", token="t",
                                         expires_at=now)).advances_status
    assert entry_for(FeedbackSubmitted(case_id=case, csat=5, submitted_at=now)).rank == STATUS_RANK["rated"]
    provided = CaseInfoProvided(case_id=case, affiliate="card", team="general", resumed_at=now, resolve_due=now,
                                note="카드 이용대금 명세서 사본 수령")
    entry = entry_for(provided)  # the team's note on what arrived reaches the customer
    assert "접수 내용: 카드 이용대금 명세서 사본 수령." in entry.message and entry.detail["note"].endswith("수령")
    assert "접수 내용" not in entry_for(provided.model_copy(update={"note": None})).message


@pytest.mark.parametrize("text,why", [("카드\x00분실", "unusable character U\\+0000"),
                                      ("벨소리\x07", "unusable character U\\+0007"),
                                      ("문의\ud800", "valid string")])  # pydantic itself refuses surrogates
def test_text_that_cannot_be_stored_is_refused(text, why):
    with pytest.raises(ValidationError, match=why):
        SubmitVoc(channel="app", text=text)


def test_tabs_and_newlines_are_fine():
    assert SubmitVoc(channel="email", text="안녕하십니까.\n\t문의드립니다.").text.startswith("안녕하십니까.")


def test_the_make_run_demo_vocs_are_valid_submissions():
    from services.demo import DEMO_VOCS

    for voc in DEMO_VOCS:
        SubmitVoc.model_validate(voc)


def test_the_timeline_consumer_takes_every_event_on_the_subjects_it_reads():
    """An event on a subject the consumer reads but does not expect is dead-lettered with an alert
    (RewardGranted on voc.feedback.> was, for every adopted suggestion)."""
    import shared.events as ev
    from services.intake.entrypoint import TIMELINE_EVENTS
    from shared.bus import SERVICE_CONSUMERS, subject_matches
    filters = [c.filter_subject for c in SERVICE_CONSUMERS if c.durable == "intake-timeline"]
    events = [e for e in vars(ev).values() if isinstance(e, type) and issubclass(e, ev.Event) and
              isinstance(getattr(e, "SUBJECT", None), str)]
    read = {e for e in events if any(subject_matches(f, e.SUBJECT) for f in filters)}
    assert read and read <= set(TIMELINE_EVENTS), read - set(TIMELINE_EVENTS)


def test_a_granted_reward_shows_on_the_customers_timeline():
    from shared.events import RewardGranted
    e = entry_for(RewardGranted(case_id=uuid.uuid4(), affiliate="card", points=5000, reason="제안 채택"))
    assert e is not None and "5,000포인트" in e.message and not e.advances_status
