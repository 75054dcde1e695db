"""Emergency action requests (card block, 지급정지) go out only on a money-at-risk rule's
evidence: a case only the model found critical is prioritised, but no other system is asked
to act on a statistical guess."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from services.classifier.handlers.events import action_requests
from shared.events import AccountFreezeRequested, CardBlockRequested, Classification, Evidence, VocReceived

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def _voc(text: str) -> VocReceived:
    return VocReceived(case_id=uuid4(), tracking_code="VOC-2026-000777", channel="app", text=text,
                       received_at=NOW, first_response_due=NOW)


def _critical(topic: str, rule: str, span: str) -> Classification:
    return Classification(kind="complaint", topic=topic, urgency="critical", affiliate="card", sentiment="negative",
                          confidence={"kind": 0.9}, evidence=(Evidence(field="urgency", label="critical", rule=rule,
                                                                       text=span, start=0, end=len(span)),))


def test_a_rule_found_card_loss_asks_for_a_block_and_a_scam_loss_for_a_payment_stop():
    [block] = action_requests(_voc("카드 잃어버렸어요"), _critical("card_loss_theft", "card_lost_or_stolen", "카드 잃어버렸"))
    assert isinstance(block, CardBlockRequested) and block.evidence[0].rule == "card_lost_or_stolen"
    [freeze] = action_requests(_voc("사기 당해서 보냈어요"), _critical("fraud_phishing", "scam_loss", "사기 당해서 보냈"))
    assert isinstance(freeze, AccountFreezeRequested)


def test_a_case_only_the_model_found_critical_asks_no_other_system_to_act():
    assert action_requests(_voc("카드 결제가 이상해요"), _critical("card_loss_theft", "model", "결제")) == []
    assert action_requests(_voc("입금이 안 됐어요"), _critical("fraud_phishing", "model", "입금")) == []


def test_the_customer_reference_goes_to_another_affiliates_system_only_with_consent():
    from shared.events import Consent

    def voc(hint, consent=False):
        return _voc("카드론으로 사기범 계좌에 보냈어요").model_copy(update={
            "affiliate_hint": hint, "customer_ref": "홍*동 010-1234-****", "consent": Consent(cross_affiliate=consent)})
    scam = _critical("fraud_phishing", "scam_loss", "사기범 계좌에 보냈")
    assert action_requests(voc("card"), scam)[0].customer_ref is None              # a card customer, the bank asked
    assert action_requests(voc("card", consent=True), scam)[0].customer_ref == "홍*동 010-1234-****"
    assert action_requests(voc("bank"), scam)[0].customer_ref == "홍*동 010-1234-****"  # the bank's own customer
    assert action_requests(voc(None), scam)[0].customer_ref == "홍*동 010-1234-****"    # a group-wide channel


def test_a_cases_alerts_go_to_the_affiliate_routing_assigns_it_to():
    """A web VOC about a card product that reads like a bank matter: routing assigns it by the product to the
    card company, so the card supervisors are told, not the bank's."""
    from types import SimpleNamespace

    from services.classifier.handlers.events import OnReceived
    from shared.directory import load_directory

    e = _voc("금감원에 민원 넣겠습니다").model_copy(update={"channel": "web", "product": "card.credit"})
    flagged = Classification(kind="complaint", topic="card_payment", urgency="high", affiliate="bank",
                             flags=("regulator",), sentiment="negative", confidence={"kind": 0.9},
                             evidence=(Evidence(field="flags", label="regulator", rule="regulator", text="금감원",
                                                start=0, end=3),))
    handler = OnReceived(None, SimpleNamespace(version="test"), 30,
                         product_owner=load_directory().affiliate_for_product)
    [alert] = [m for m in handler._outgoing(e, flagged, e.text) if m.__class__.__name__ == "AlertRaised"]
    assert alert.affiliate == "card" and alert.subject() == "voc.alert.card.regulator"
    hinted = e.model_copy(update={"affiliate_hint": "insurance"})  # the channel's affiliate wins, as in routing
    [alert] = [m for m in handler._outgoing(hinted, flagged, e.text) if m.__class__.__name__ == "AlertRaised"]
    assert alert.affiliate == "insurance"


def _classified(text: str):
    from tests.unit.classifier_once import classifier

    return classifier().classify(text)


def test_money_leaving_an_account_someone_else_got_into_is_a_payment_stop_not_a_card_block():
    """card_loss_theft covers a card's charges; an account's transfers or a securities account's trades made by
    someone else are an account taken over (fraud_phishing), and the bank is asked for 지급정지."""
    for text in ("통장에서 제가 안 한 이체가 계속 빠져나가고 있어요 빨리 막아주세요",
                 "증권 계좌에서 제가 안 한 매도 주문이 계속 체결되고 있어요"):
        c = _classified(text)
        assert c.topic == "fraud_phishing" and "critical:unauthorized_withdrawal" in c.rules, (text, c)
        assert [type(r) for r in action_requests(_voc(text), c)] == [AccountFreezeRequested], text
    card = "해외에서 제가 안 한 결제가 계속 승인되고 있어요"
    c = _classified(card)
    assert c.topic == "card_loss_theft" and [type(r) for r in action_requests(_voc(card), c)] == [CardBlockRequested]


def test_a_scam_loss_and_a_lost_card_in_one_text_ask_both_systems_each_with_its_own_evidence():
    text = "보이스피싱 당해서 방금 300만원 이체했어요 그리고 카드도 잃어버렸어요"
    c = _classified(text)
    block, freeze = action_requests(_voc(text), c)
    assert isinstance(block, CardBlockRequested) and isinstance(freeze, AccountFreezeRequested)
    assert {e.rule for e in block.evidence} == {"card_lost_or_stolen"} and {e.rule for e in freeze.evidence} == {
        "scam_loss"}
