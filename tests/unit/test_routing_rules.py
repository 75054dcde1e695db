import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.directory import load_directory
from services.routing.domain.lifecycle import CaseState, InvalidTransition, apply, decide
from services.routing.domain.rules import assign
from services.routing.domain.sla import deadlines, warn_at
from shared.bizcal import load_calendar
from shared.events import (
    AcknowledgeCase, Classification, ExtendCase, ProvideInfo, ReclassifyCase, ReopenCase, RequestInfo, ResolveCase,
    ReviewSuggestion, TransferCase,
)

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


def test_every_case_gets_a_named_handler_promptly_and_fourteen_business_days_to_resolve():
    """Friday 09:00: normal is acknowledged by Tuesday's close, low by Wednesday's (the receipt
    notice's handler name and contact are sent promptly, whatever the urgency)."""
    received = datetime(2026, 11, 20, 9, tzinfo=CAL.tz)
    ack, resolve_by = deadlines("normal", received, DIRECTORY, CAL)
    assert ack == datetime(2026, 11, 24, 18, tzinfo=CAL.tz) and resolve_by == datetime(2026, 12, 10, 18, tzinfo=CAL.tz)
    ack, resolve_by = deadlines("low", received, DIRECTORY, CAL)
    assert ack == datetime(2026, 11, 25, 18, tzinfo=CAL.tz) and resolve_by == datetime(2026, 12, 10, 18, tzinfo=CAL.tz)


NOW = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
CASE = CaseState(case_id=uuid.uuid4(), tracking_code="VOC-2026-000123", affiliate="card", team="general",
                 channel="app", status="routed", kind="complaint", topic="card_payment", received_at=NOW,
                 resolve_due=CAL.add_business_days(NOW, 14))


def cmd(cls, **kw):
    return cls(case_id=CASE.case_id, **kw)


ACK = cmd(AcknowledgeCase, handler_name="김민지", handler_contact="02-1588-0000")
RES = cmd(ResolveCase, resolution="환불 완료", outcome="accepted")


def run(case, command, now=NOW):
    d = decide(case, command, now, CAL)
    return (apply(case, d.changes), d) if d else (case, None)


def test_acknowledge_notifies_the_customer_and_repeats_are_silent():
    acked, d = run(CASE, ACK)
    assert acked.status == "acknowledged" and d.notice.notice == "acknowledged" and "김민지" in d.notice.message
    assert run(acked, ACK)[1] is None


def test_request_info_pauses_and_the_deadline_moves_by_the_pause():
    waiting, d = run(CASE, cmd(RequestInfo, what="거래내역서"))
    assert waiting.status == "waiting_info" and d.changes["paused_at"] == NOW
    # the customer is told what is needed, and that the clock stops until it comes
    assert d.notice.notice == "info_requested" and "거래내역서" in d.notice.message and "멈춥니다" in d.notice.message
    assert run(waiting, cmd(RequestInfo, what="거래내역서"))[1] is None  # asked once, told once
    resumed, d = run(waiting, cmd(ProvideInfo, note="거래내역서 사본 수령"), NOW + timedelta(days=3))  # Fri to Mon
    assert d.event.note == "거래내역서 사본 수령"  # what arrived is kept with the step, not dropped
    assert resumed.status == "routed" and resumed.resolve_due == CAL.add_business_days(CASE.resolve_due, 1)
    assert resumed.resolve_due.astimezone(CAL.tz).weekday() < 5  # never a weekend or holiday deadline
    with pytest.raises(InvalidTransition):
        run(resumed, cmd(ProvideInfo))


def test_a_request_for_more_documents_while_waiting_is_told_to_the_customer_and_keeps_the_pause():
    waiting, _ = run(CASE, cmd(RequestInfo, what="거래내역서"))
    later = NOW + timedelta(days=1)
    more, d = run(waiting, cmd(RequestInfo, what="가맹점 영수증"), later)
    assert d.notice.notice == "info_requested" and "추가로" in d.notice.message and "가맹점 영수증" in d.notice.message
    assert d.event.what == "가맹점 영수증" and d.event.paused_at == NOW  # the clock stopped at the first request
    assert more.status == "waiting_info" and more.paused_at == NOW and more.info_requested == "가맹점 영수증"
    assert run(more, cmd(RequestInfo, what="가맹점 영수증"), later)[1] is None  # its retry
    resumed, d = run(more, cmd(ProvideInfo), NOW + timedelta(days=3))
    assert resumed.info_requested is None and resumed.resolve_due == CAL.add_business_days(CASE.resolve_due, 1)


def test_one_extension_with_a_reason_and_a_customer_notice():
    extended, d = run(CASE, cmd(ExtendCase, reason="가맹점 확인에 시일 소요", business_days=14))
    assert extended.resolve_due == CAL.add_business_days(CASE.resolve_due, 14)
    assert d.notice.notice == "extended" and "가맹점 확인" in d.notice.message
    with pytest.raises(InvalidTransition, match="already extended"):
        run(extended, cmd(ExtendCase, reason="한 번 더 연장", business_days=5))


def test_transfer_keeps_the_sla_and_clears_the_handler():
    acked, _ = run(CASE, ACK)
    moved, d = run(acked, cmd(TransferCase, affiliate="bank", team="fraud_response", reason="계좌 관련 건", by="박팀장"))
    assert (moved.affiliate, moved.team, moved.status) == ("bank", "fraud_response", "routed")
    assert moved.resolve_due == CASE.resolve_due and moved.handler_name is None
    assert d.event.from_affiliate == "card"
    assert d.notice.notice == "transferred" and f"{CASE.resolve_due:%Y-%m-%d}" in d.notice.message  # told, same date


def test_the_team_taking_a_case_over_gets_it_on_its_queue():
    """A transfer used to send only CaseTransferred, which no team reads: the new team never got the case."""
    kept = CaseState(**{**CASE.__dict__, "text": "카드 결제 후 계좌에서 두 번 빠져나갔어요", "urgency": "high",
                        "customer_ref": "김** 010-****-5678", "came_via": "card", "cross_affiliate": False,
                        "repeated": True, "duplicate": True})
    acked, _ = run(kept, ACK)
    moved, d = run(acked, cmd(TransferCase, affiliate="bank", team="fraud_response", reason="계좌 관련 건", by="박팀장"))
    h = d.handoff
    assert h.subject() == "voc.routed.bank.fraud_response"
    assert (h.handoff, h.handoff_reason) == ("transferred", "계좌 관련 건")
    assert (h.text, h.urgency, h.topic, h.repeat, h.duplicate) == (kept.text, "high", "card_payment", True, True)
    assert h.resolve_due == CASE.resolve_due and h.ack_due is None  # the SLA carries over; acknowledged once
    assert h.customer_ref is None  # came through the card company, no consent to share: not to the bank
    consented = CaseState(**{**kept.__dict__, "cross_affiliate": True})
    assert run(consented, cmd(TransferCase, affiliate="bank", team="general", reason="계좌 건", by="박팀장")
               )[1].handoff.customer_ref == kept.customer_ref
    within = run(kept, cmd(TransferCase, affiliate="card", team="fraud_response", reason="부정사용 의심", by="박팀장"))[1]
    assert within.handoff.customer_ref == kept.customer_ref  # the same affiliate's other team
    done, _ = run(kept, RES)
    reopened = run(done, cmd(ReopenCase, reason="환불이 아직 안 됨"), NOW + timedelta(days=20))[1]
    again = reopened.handoff
    assert again.subject() == "voc.routed.card.general" and again.handoff == "reopened"
    assert again.resolve_due == reopened.changes["resolve_due"] > CASE.resolve_due  # the fresh deadline
    old = run(CASE, cmd(TransferCase, affiliate="bank", team="general", reason="계좌 건", by="박팀장"))[1].handoff
    assert old.text == ""  # routed before routing kept the text: the handoff still goes


def test_resolve_reopen_and_illegal_transitions():
    done, d = run(CASE, RES)
    assert done.status == "resolved" and d.event.within_sla is True and d.notice.notice == "resolved"
    assert run(done, RES)[1] is None
    for bad in (ACK, cmd(RequestInfo, what="서류"), cmd(ExtendCase, reason="연장 사유", business_days=3)):
        with pytest.raises(InvalidTransition):
            run(done, bad)
    with pytest.raises(InvalidTransition):
        run(done, cmd(ResolveCase, resolution="다른 내용"))
    reopened, d = run(done, cmd(ReopenCase, reason="환불이 아직 안 됨"))
    assert reopened.status == "routed" and reopened.reopened_count == 1
    assert d.notice.notice == "reopened" and d.notice.due == reopened.resolve_due
    assert f"{reopened.resolve_due:%Y-%m-%d}" in d.notice.message
    with pytest.raises(InvalidTransition):
        run(CASE, cmd(ReopenCase, reason="열려 있는 건"))


def test_a_case_resolved_before_anyone_acknowledged_it_is_acknowledged_afresh_when_reopened():
    """Its first acknowledgement deadline is long past: kept, the sweeper escalated the reopened case at once."""
    unacked = CaseState(**{**CASE.__dict__, "urgency": "normal", "ack_due": CAL.add_business_days(NOW, 2)})
    done, _ = run(unacked, RES)  # a quick answer, straight from routed
    later = NOW + timedelta(days=20)
    reopened = decide(done, cmd(ReopenCase, reason="고객 만족도 불만족: 재검토"), later, CAL, DIRECTORY)
    assert reopened.changes["ack_due"] == deadlines("normal", later, DIRECTORY, CAL)[0] > later
    assert reopened.changes["ack_breached_at"] is None
    assert reopened.handoff.ack_due == reopened.changes["ack_due"]  # the team's queue reads the new one
    assert decide(done, cmd(ReopenCase, reason="재검토"), later, CAL).changes["ack_due"] is None  # no rules: none
    acked_then_done, _ = run(run(unacked, ACK)[0], RES)
    kept = decide(acked_then_done, cmd(ReopenCase, reason="재검토"), later, CAL, DIRECTORY)
    assert "ack_due" not in kept.changes and kept.handoff.ack_due is None  # the first acknowledgement stands


def test_a_reopened_case_may_be_extended_once_more():
    extended, _ = run(CASE, cmd(ExtendCase, reason="가맹점 확인 지연", business_days=5))
    with pytest.raises(InvalidTransition, match="already extended"):
        run(extended, cmd(ExtendCase, reason="추가 확인", business_days=3))
    reopened, _ = run(run(extended, RES)[0], cmd(ReopenCase, reason="환불 금액이 다름"))
    assert not reopened.extended  # a fresh deadline, as a new complaint's: extendable once
    again, d = run(reopened, cmd(ExtendCase, reason="카드사 재확인 필요", business_days=5))
    assert again.extended and d.event.resolve_due > reopened.resolve_due


def test_the_resolution_carries_the_cases_flags_for_the_survey():
    assert run(CASE, RES)[1].event.flags == ()
    vulnerable = CaseState(**{**CASE.__dict__, "flags": ("regulator", "vulnerable")})
    assert run(vulnerable, RES)[1].event.flags == ("regulator", "vulnerable")  # feedback calls the customer


def test_late_resolution_is_marked_outside_the_sla():
    _, d = run(CASE, RES, CASE.resolve_due + timedelta(hours=1))
    assert d.event.within_sla is False


def test_reclassify_records_the_previous_labels():
    fixed, d = run(CASE, cmd(ReclassifyCase, kind="complaint", topic="card_loss_theft", by="김민지"))
    assert fixed.topic == "card_loss_theft" and d.event.previous_topic == "card_payment"
    assert run(fixed, cmd(ReclassifyCase, kind="complaint", topic="card_loss_theft", by="김민지"))[1] is None


def test_suggestion_review():
    suggestion = CaseState(**{**CASE.__dict__, "kind": "suggestion", "team": "suggestions_review"})
    reviewed, d = run(suggestion, cmd(ReviewSuggestion, outcome="adopted", reason="상품개발부 반영", category="product"))
    assert (d.event.outcome, d.event.category, d.changes["review_category"]) == ("adopted", "product", "product")
    assert d.event.reviewed_at is not None
    assert run(reviewed, cmd(ReviewSuggestion, outcome="adopted", reason="상품개발부 반영"))[1] is None
    assert run(reviewed, cmd(ReviewSuggestion, outcome="adopted", reason="상품개발부 반영", category="product"))[1] is None
    with pytest.raises(InvalidTransition, match="already adopted as product"):
        run(reviewed, cmd(ReviewSuggestion, outcome="adopted", reason="신규사업으로 분류", category="new_business"))
    with pytest.raises(InvalidTransition, match="already adopted"):
        run(reviewed, cmd(ReviewSuggestion, outcome="rejected", reason="결정을 번복합니다"))
    with pytest.raises(InvalidTransition, match="not a suggestion"):
        run(CASE, cmd(ReviewSuggestion, outcome="adopted", reason="불만 건"))


def test_a_review_without_a_category_keeps_the_customers():
    chosen = CaseState(**{**CASE.__dict__, "kind": "suggestion", "team": "suggestions_review",
                          "customer_category": "new_business"})
    reviewed, d = run(chosen, cmd(ReviewSuggestion, outcome="adopted", reason="신규 제휴사업으로 검토"))
    assert (d.event.category, reviewed.review_category) == ("new_business", "new_business")
    assert run(reviewed, cmd(ReviewSuggestion, outcome="adopted", reason="신규 제휴사업으로 검토"))[1] is None
    _, d = run(chosen, cmd(ReviewSuggestion, outcome="adopted", reason="제도 개선 과제로 분류", category="process"))
    assert d.event.category == "process"  # the reviewer's own category wins
    _, d = run(CaseState(**{**chosen.__dict__, "customer_category": None}),
               cmd(ReviewSuggestion, outcome="rejected", reason="이미 시행 중인 제도입니다"))
    assert d.event.category is None  # neither: counted as unsorted


def test_warning_time_is_eighty_percent_of_the_way():
    received = datetime(2026, 11, 20, 9, tzinfo=CAL.tz)
    due = received + timedelta(hours=10)
    assert warn_at(received, due, 0.8) == received + timedelta(hours=8)


def test_hours_based_sla_runs_around_the_clock(tmp_path):
    text = Path(load_directory.__defaults__[0]).read_text(encoding="utf-8").replace(
        "critical: {ack_hours: 1, resolve_business_days: 14}", "critical: {ack_hours: 1, resolve_hours: 24}")
    p = tmp_path / "d.yaml"
    p.write_text(text, encoding="utf-8")
    d = load_directory(p)
    saturday = datetime(2026, 11, 21, 23, tzinfo=CAL.tz)
    assert deadlines("critical", saturday, d, CAL)[1] == saturday + timedelta(hours=24)


@pytest.mark.parametrize("assigned,receiving,consent,shared", [
    ("card", "card", False, True),     # stays inside the affiliate that received it
    ("card", None, False, True),       # no receiving affiliate named (group channels)
    ("bank", "card", False, False),    # crosses affiliates without consent: reference only
    ("bank", "card", True, True),      # the customer consented to cross-affiliate sharing
])
def test_customer_reference_crosses_affiliates_only_with_consent(assigned, receiving, consent, shared):
    from services.routing.domain.rules import shares_customer

    assert shares_customer(assigned, receiving, consent) is shared


@pytest.mark.parametrize("hint,product,classified,expected", [
    ("card", "insurance.health", "bank", "card"),   # the channel's explicit affiliate wins
    (None, "insurance.health", "bank", "insurance"),  # then the product
    (None, "group.points.exchange", "card", "group"),  # longest prefix
    (None, "unknown.thing", "securities", "securities"),  # then the classifier
    (None, None, "bank", "bank"),
])
def test_affiliate_precedence(hint, product, classified, expected):
    assert assign(cls(affiliate=classified), hint, DIRECTORY, product).affiliate == expected


def test_seollal_and_weekends():
    # Fri 2026-02-13 + 1 business day: weekend, then 설날 16-18 Feb, so Thu 19 Feb
    assert CAL.add_business_days(datetime(2026, 2, 13, 10, tzinfo=CAL.tz), 1) == datetime(2026, 2, 19, 18, tzinfo=CAL.tz)
    assert CAL.business_days_between(datetime(2026, 2, 13, tzinfo=CAL.tz), datetime(2026, 2, 20, tzinfo=CAL.tz)) == 2


def test_no_extension_once_the_deadline_has_passed():
    """Extending a late case would have made it count as on time."""
    with pytest.raises(InvalidTransition, match="past its deadline"):
        run(CASE, cmd(ExtendCase, reason="가맹점 확인에 시일 소요", business_days=14), CASE.resolve_due + timedelta(hours=1))


def test_a_reopened_case_gets_a_fresh_deadline_and_its_old_marks_cleared():
    resolved, _ = run(run(CASE, ACK)[0], RES)
    later = CASE.resolve_due + timedelta(days=1)  # reopened after the first deadline (a CSAT of 1 reopens it)
    reopened, d = run(resolved, cmd(ReopenCase, reason="고객 재문의"), later)
    assert reopened.status == "routed" and reopened.resolve_due == CAL.add_business_days(later, 14)
    assert d.changes["breached_at"] is None and d.changes["warned_at"] is None
    assert later < d.changes["warn_at"] < reopened.resolve_due
    assert reopened.acknowledged_at is not None  # the acknowledgement deadline is not missed again
    again, d = run(reopened, RES, later + timedelta(days=1))
    assert d.event.within_sla is True


def test_a_transfer_keeps_the_acknowledgement_and_credits_a_pause():
    acked, _ = run(CASE, ACK)
    waiting, _ = run(acked, cmd(RequestInfo, what="거래내역서"))
    moved, d = run(waiting, cmd(TransferCase, affiliate="bank", team="general", reason="계좌 건", by="박팀장"),
                   NOW + timedelta(days=3))
    assert moved.status == "routed" and moved.paused_at is None and moved.acknowledged_at == acked.acknowledged_at
    assert moved.resolve_due == CAL.add_business_days(CASE.resolve_due, 1) == d.event.resolve_due


def test_resolving_while_waiting_for_documents_counts_the_pause():
    waiting, _ = run(CASE, cmd(RequestInfo, what="거래내역서"))
    just_after = CASE.resolve_due + timedelta(hours=2)  # late by the old deadline, in time with the pause credited
    _, d = run(waiting, RES, just_after)
    assert d.event.within_sla is True


def test_sla_messages_show_deadlines_in_korean_time():
    from services.routing.domain.sweeper import escalation, warning

    due = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)  # 18:00 in Seoul, as asyncpg hands it back
    assert "2026-12-10 18:00" in warning(CASE.case_id, "VOC-2026-000123", "card", due).message
    _, alert = escalation(CASE.case_id, "VOC-2026-000123", "card", "general", "resolve", due)
    assert "2026-12-10 18:00" in alert.message


def test_the_2025_temporary_holiday_is_not_a_business_day():
    from datetime import date

    assert not CAL.is_business_day(date(2025, 1, 27))


def test_a_calendar_without_next_years_holidays_is_reported():
    from datetime import date

    assert CAL.missing_years(date(2026, 11, 23)) == []          # 2026 and 2027 are in the file
    assert CAL.missing_years(date(2027, 3, 1)) == [2028]        # 2028's 설 would count as business days


def test_the_resolution_notice_tells_the_result_and_the_answer():
    _, d = run(CASE, cmd(ResolveCase, resolution="이중 청구된 연회비 15,000원을 11월 25일에 환불해 드립니다.",
                         outcome="partially_accepted"))
    assert "처리 결과: 일부 수용" in d.notice.message and "11월 25일에 환불" in d.notice.message
    long = "가" * 600
    _, d = run(CASE, cmd(ResolveCase, resolution=long, outcome="rejected"))
    assert "처리 결과: 불수용" in d.notice.message and "가" * 500 + "… (전문은 접수 안내의 처리 현황 링크에서" in d.notice.message
    assert "가" * 501 not in d.notice.message


def test_what_staff_write_is_masked_before_it_reaches_the_bus_and_the_customer():
    from services.routing.handlers.commands import masked

    res = masked(cmd(ResolveCase, resolution="환불 계좌 110-123-456789로 입금, 고객님 010-1234-5678로 안내드림",
                     outcome="accepted"))
    _, d = run(CASE, res)
    for told in (d.event.model_dump_json(), d.notice.message):
        assert "456789" not in told and "5678" not in told and "환불 계좌" in told
    info = masked(cmd(RequestInfo, what="신분증 사본(850315-1234567 뒷자리 가림)"))
    assert "1234567" not in info.what
    assert masked(ACK) is ACK  # the handler's office line is given to the customer on purpose
    plain = cmd(ExtendCase, reason="가맹점 확인에 시일 소요", business_days=5)
    assert masked(plain) is plain


def test_after_a_transfer_the_new_affiliate_sees_the_steps_not_the_other_affiliates_staff():
    from services.routing.domain.lifecycle import history_for

    steps = [{"event": "CaseAcknowledged", "staff_id": "C2019114",
              "data": {"affiliate": "card", "handler_name": "김민지", "handler_contact": "02-1588-0000"}},
             {"event": "CaseTransferred", "staff_id": "C2019114",
              "data": {"affiliate": "bank", "from_affiliate": "card", "by": "박팀장", "reason": "계좌 건"}},
             {"event": "CaseResolved", "staff_id": "B2015032", "data": {"affiliate": "bank", "resolution": "완료"}}]
    bank = history_for("bank", steps)
    assert [s["staff_id"] for s in bank] == [None, None, "B2015032"]
    assert bank[0]["data"] == {"affiliate": "card"} and bank[1]["data"]["reason"] == "계좌 건"
    assert "by" not in bank[1]["data"] and bank[2] == steps[2]
    assert history_for("group", steps) == steps == history_for("card", steps)[:2] + [steps[2]]


def test_documents_received_after_a_transfer_return_the_case_to_the_new_team_untaken():
    """The status was rebuilt from acknowledged_at, which a transfer keeps: the new team's case came back
    'acknowledged' with no handler, and left its list of cases to take."""
    acked, _ = run(CASE, ACK)
    moved, _ = run(acked, cmd(TransferCase, affiliate="bank", team="general", reason="계좌 건", by="박팀장"))
    waiting, d = run(moved, cmd(RequestInfo, what="신분증 사본"))
    assert d.changes["status_before_pause"] == "routed"
    back, d = run(waiting, cmd(ProvideInfo), NOW + timedelta(hours=2))
    assert back.status == "routed" and back.handler_name is None and d.changes["status_before_pause"] is None
    taken, _ = run(run(acked, cmd(RequestInfo, what="거래내역서"))[0], cmd(ProvideInfo), NOW + timedelta(hours=2))
    assert taken.status == "acknowledged"
    older = CaseState(**{**waiting.__dict__, "status_before_pause": None})  # paused before the column was read
    assert run(older, cmd(ProvideInfo), NOW + timedelta(hours=2))[0].status == "acknowledged"


def test_a_corrected_contact_is_a_new_acknowledgement():
    acked, _ = run(CASE, ACK)
    fixed, d = run(acked, cmd(AcknowledgeCase, handler_name="김민지", handler_contact="02-1588-1234"))
    assert d is not None and fixed.handler_contact == "02-1588-1234" and "02-1588-1234" in d.notice.message
    assert fixed.acknowledged_at == acked.acknowledged_at  # the first acknowledgement still counts for the SLA


def test_a_case_transferred_before_anyone_took_it_keeps_its_acknowledgement_deadline():
    due = NOW + timedelta(hours=1)
    critical = CaseState(**{**CASE.__dict__, "ack_due": due})
    h = run(critical, cmd(TransferCase, affiliate="bank", team="fraud_response", reason="계좌 건", by="박팀장"))[1].handoff
    assert h.ack_due == due  # the new team sees the deadline it is escalated at
    acked, _ = run(critical, ACK)
    h = run(acked, cmd(TransferCase, affiliate="bank", team="fraud_response", reason="계좌 건", by="박팀장"))[1].handoff
    assert h.ack_due is None


def test_a_reopened_case_starts_its_clock_again():
    resolved, _ = run(run(CASE, ACK)[0], RES)
    later = NOW + timedelta(days=60)
    d = run(resolved, cmd(ReopenCase, reason="고객 재문의"), later)[1]
    assert d.changes["clock_start"] == later  # a later deadline move measures the warning from here
