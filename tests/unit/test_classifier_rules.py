"""Table-driven checks of the classifier (model + auditable rules) against
../shared/CLASSIFIER_CONTRACT.md. The model's held-out figures are in docs/classifier-report.md;
these are the contract's own examples and the cases the rules must never get wrong."""

import pytest

from services.classifier.domain.classify import raise_urgency
from services.classifier.domain.normalise import compose_jamo
from tests.unit.classifier_once import classifier

def classify(text, **kw):
    return classifier().classify(text, **kw)


@pytest.mark.parametrize("text,flags", [
    ("이번 주까지 해결 안 되면 금융감독원에 민원 넣겠습니다.", ("regulator",)),
    ("금감원에민원넣을거예요진짜", ("regulator",)),  # STT without spaces
    ("이미 국민신문고에 신고 접수했습니다", ("regulator",)),
    ("언론에 제보할 겁니다. 기자한테 다 얘기할게요", ("media",)),
    ("변호사 선임해서 소송 진행하겠습니다", ("legal",)),
    ("경찰에 신고했고 사건번호도 받았어요", ("legal",)),
    ("씨발 상담원 연결이 왜 이렇게 안되냐", ("abusive",)),
    ("ㅅㅂ 진짜 일 이따위로 할래", ("abusive",)),
    ("시1발 장난하냐", ("abusive",)),
    ("저희 어머니가 80대 고령이시라 앱을 잘 못 쓰세요", ("vulnerable",)),
    ("금감원 직원이라는 사람한테 전화가 와서 돈을 보냈어요", ()),  # impersonation, a scam report
    ("금융감독원을 사칭한 문자를 받았습니다", ()),
    ("금감원에 신고할 생각은 없지만 너무 실망스럽네요", ()),  # negated
    ("앱 화면이 너무 불편해요", ()),
    # lexicon 2026.11-4, from the fourth writing round's training misses (these sentences are new)
    ("적금 만기 언제예요 / 근데 상담원님 목소리 귀여우시네 퇴근 몇 시에 해요? 번호 좀", ("abusive",)),
    ("목소리증권 고객센터는 퇴근하고 전화하면 항상 마감이에요", ()),  # the brand, not harassment
    ("고객 내점. 대기 지연에 격분, 창구 직원에게 욕설 후 귀가.", ("abusive",)),
    ("방금 모르는 결제가 떴어요 제가 진짜 미쳤나 봐요 카드를 식당에 두고 왔어요", ()),  # self-directed
    ("해지 처리 사흘째 안 됨. 상담원들 머리는 장식이냐", ("abusive",)),
    ("우리 가게 블로그에 홍보 글을 올렸는데 입금 계좌에 상호명이 보이게 할 수 있나요", ()),
    ("환불 안 해주면 주식 갤러리에 캡처 다 올림", ("media",)),
    ("소송을 하려는 것은 아니고 청약철회만 하고 싶습니다", ()),
    ("외국인 근로자분들을 위한 외국어 약관도 만들어 주세요", ()),  # a group in a suggestion
    ("딸이 고1인데 체크카드를 잃어버렸어요", ("vulnerable",)),
    # lexicon 2026.11-6, from the sixth writing round's training misses (these sentences are new)
    ("상담원 ㄱ ㅐ ㅅ ㅐ ㄲ ㅣ 야 빨리 처리해", ("abusive",)),  # letters typed apart
    ("창구 직원 ㅁ ㅣ ㅊ ㅣ ㄴ ㄴ ㅗ ㅁ 아니야", ("abusive",)),
    ("상담사님 퇴근길 조심하세요 제가 다 기억하고 있으니까", ("abusive",)),
    ("포인트 적립 누락 계속되면 동네 밴드에 다 돌릴 거예요", ("media",)),
    ("답변 없으면 오픈채팅방에 이 내용 공유합니다", ("media",)),
    ("신문에서 금리 인상 기사를 읽고 문의드려요", ()),  # reading the news
    ("이 내용 커뮤에 올릴까 하다가 말았어요 그냥 빨리 처리해 주세요", ()),  # thought about it, did not
    # lexicon 2026.11-7 (new sentences, after round 6's legal and vulnerable training misses)
    ("처남이 변호사라 물어봤더니 약관 위반이래요", ("legal",)),
    ("지점에서는 경찰에 신고하라고 하던데 기계 오류를 왜 제가 신고해요", ()),  # told to, not escalating
    ("제가 눈이 잘 안 보여서 ATM 화면 글씨를 못 읽어요", ("vulnerable",)),
])
def test_flags(text, flags):
    assert classify(text).flags == flags


@pytest.mark.parametrize("text,flags", [  # lexicon 2026.11-8 to -10
    ("창구 직원이 제 잔액을 다 들리게 말했어요;; 고소각임 진짜", ("legal",)),
    ("경찰서에서 나왔다는 사람이 전화해서 계좌번호를 물어봤어요", ()),  # a scammer, not the customer
    ("고객에게 경찰 신고 방법 안내함. 계좌 지급정지 처리.", ()),  # staff explaining how to report
    ("고객이 금감원에 민원 넣겠다고 하여 절차 안내함", ("regulator",)),
    ("금감원 민원 넣을게요 돈을 잘못 보냈는데 반환이 안 돼요", ("regulator",)),
    ("금감원에 민원 넣을 예정. 문자로 답변 주세요", ("regulator",)),
    ("어제 갑자기 '연체 시 법적 조치 예정' 문자 와서 놀람", ()),  # the bank's own notice
    ("이사 못가게 생김 네이트판이랑 유튜브 사연채널에 보냈어요 진짜", ("media",)),
    ("제 유튜브 구독자 2만인데 이거 영상 하나 각이네요", ("media",)),
    ("헐 오픈채팅방에 신분증 사진을 잘못 올렸어요 바로 지웠는데", ()),
    ("인터넷뱅킹으로 동생 계좌에 보냈는데 입금이 안 됐어요", ()),  # internet banking is not going public
    ("헬로 아 네 저 한국말 조금 해요 ATM 돈 안 나왔어요", ("vulnerable",)),
])
def test_flags_of_later_lexicons(text, flags):
    assert classify(text).flags == flags


def test_letters_typed_apart_are_put_together_and_the_evidence_is_what_was_typed():
    assert compose_jamo("ㅅㅐㄲㅣ들아") == ("새끼들아", [(0, 2), (2, 4), (4, 5), (5, 6)])
    assert compose_jamo("ㄴㅏㅃㅡㄴ")[0] == "나쁜"  # a consonant before a vowel starts the next syllable
    assert compose_jamo("ㅋㅋㅋ ㅠㅠ")[0] == "ㅋㅋㅋ ㅠㅠ"  # no consonant-vowel pair: unchanged
    text = "해지 좀 해줘 ㅅ ㅐ ㄲ ㅣ 들아"
    ev = next(e for e in classify(text).evidence if e.label == "abusive")
    assert text[ev.start:ev.end] == ev.text and ev.text.startswith("ㅅ ㅐ ㄲ ㅣ")


@pytest.mark.parametrize("text", [
    "어제 지하철에서 지갑을 잃어버렸는데 신용카드가 들어있었어요",
    "제가 하지도 않은 해외 결제가 지금도 계속 승인되고 있어요",
    "보이스피싱에 속아서 방금 500만원을 이체했어요 어떡해요",
    "금감원 직원이라는 사람한테 전화가 와서 계좌가 범죄에 연루됐다고 해서 300만원 송금했어요",
    "제 명의로 모르는 대출이 실행되어 있어요",
    "고객 내점. 보이스피싱 의심 정황 있어 현금 인출 보류함.",
    # lexicon 2026.11-5, phrased without the usual keywords (new sentences, after round 4's training misses)
    "검찰청이라면서 제 통장이 범죄에 이용됐대서 말하는 계좌로 옮겼어요 이십 분 전이에요",
    "거래처가 계좌가 바뀌었다고 해서 자재비를 보냈는데 거래처는 그런 연락 한 적이 없대요",
    "인터넷뱅킹 비번이 바뀌어 있어요 저는 바꾼 적이 없어요",
    "보험금 지급 계좌가 제가 모르는 계좌로 변경됐다는 문자가 왔어요",
    "제 증권 계좌에서 매도 주문이 지금도 체결되고 있어요 저 로그인 안 했어요",
    # lexicon 2026.11-6 (new sentences, after round 6's training misses)
    "낯선 휴대폰에서 제 계정으로 로그인했다는 알림이 떴어요 저 아니에요",
    "제 항공 마일리지가 모르는 사람한테 선물로 넘어갔다고 문자가 왔어요",
    "어머니 보험 계약자 주소가 모르는 사람으로 바뀌어 있어요 빨리 막아 주세요",
    "제가 안 쓴 결제가 오늘 세 건 찍혀 있어요",
    # lexicon 2026.11-8: what opens an account to whoever finds it, and scams still going on
    "통장이랑 도장 든 쇼핑백을 지하철 2호선에 두고 내렸어요ㅠ 일단 거래 막아주세요",
    "PC방에서 인뱅하고 로그아웃 안하고 나왔어요ㅠㅠ 인증서도 그 컴에 저장함 지금 막을수있나요",
    "번호표 기다리는 의자에 현금 봉투를 놓고 나왔어요 오백만 원이에요 직원분한테 연락 좀 해주세요",
    "그 사람 지금도 돈 더 보내라고 계속 전화해요 어떻게 해요",
    "제가 요청한 것도 아닌데 인증번호가 막 와요 지금도 오고 있어요",
    "해외결제 차단 해제해 둔 상태인데 카드를 잃어버렸어요 빨리 정지해 주세요",
    "개인정보 유출됐다는 뉴스 보고 확인해 보니 모르는 결제가 200만원 됐어요",
])
def test_money_or_access_at_risk_now_is_critical_with_evidence(text):
    c = classify(text)
    assert c.urgency == "critical"
    ev = [e for e in c.evidence if e.field == "urgency" and e.label == "critical"]
    assert ev and all(text[e.start:e.end] == e.text for e in ev)


@pytest.mark.parametrize("text", [
    "벌써 세 번째 문의인데 아직도 해결이 안 됐어요",
    "같은 결제가 이중 결제되어 두 번 빠져나갔습니다",
    "금융감독원에 민원 제기하겠습니다. 대출 금리 설명이 달랐어요",
    "개인정보가 유출된 것 같아요 다른 사람 명세서가 왔어요",
])
def test_high_urgency(text):
    assert classify(text).urgency == "high"


def test_every_flag_has_an_evidence_span_that_is_in_the_text():
    text = "아 네 그게요 세 번째 전화인데 해결 안 되면 금감원에 민원 넣고 언론에도 제보할 거예요 씨발"
    c = classify(text)
    assert set(c.flags) == {"regulator", "media", "abusive"}
    for flag in c.flags:
        spans = [e for e in c.evidence if e.field == "flags" and e.label == flag]
        assert spans and all(text[e.start:e.end] == e.text for e in spans)


@pytest.mark.parametrize("text,kind,topic", [
    ("카드를 잃어버렸어요. 분실 신고하고 재발급 받고 싶어요", "inquiry", "card_loss_theft"),
    ("적금 만기 때 자동으로 재예치되는 기능이 있으면 좋겠어요", "suggestion", "account_transfer"),
    ("강남지점 김민지 대리님 친절하게 상담해 주셔서 감사합니다", "praise", "staff_service"),
    ("앱 업데이트 후 로그인이 계속 안 돼요 ㅠㅠ 짜증나", "complaint", "digital_service"),
    ("실손보험 청구했는데 보험금 지급이 너무 늦어요", "complaint", "insurance"),
    ("해외 주식 매도 주문이 체결이 안 돼서 손실 봤습니다", "complaint", "investment"),
])
def test_kind_and_topic_on_clear_examples(text, kind, topic):
    c = classify(text)
    assert (c.kind, c.topic) == (kind, topic)


def test_channel_affiliate_hint_wins():
    assert classify("앱에서 로그인이 안 돼요", affiliate_hint="securities").affiliate == "securities"
    assert classify("카드 연회비가 너무 비싸요").affiliate == "card"


def test_output_follows_the_contract():
    c = classify("보험 해지 환급금이 설명과 달라요")
    assert c.kind in {"complaint", "suggestion", "inquiry", "praise"}
    assert list(c.flags) == sorted(c.flags)
    assert set(c.confidence) >= {"kind", "topic", "urgency", "flags", "affiliate", "sentiment"}
    assert all(0 <= v <= 1 for v in c.confidence.values())


@pytest.mark.parametrize("text,note", [
    ("", "empty text"),
    ("   ", "empty text"),
    ("asdf qwer zxcv 1234 !!!", "not Korean"),
    ("ㅁㄴㅇㄹ", None),
])
def test_empty_or_gibberish_is_other_with_low_confidence_and_a_reason(text, note):
    c = classify(text)
    if note:
        assert c.topic == "other" and c.confidence["topic"] <= 0.2
        assert any(note in n for n in c.notes)
    else:  # Korean letters but no meaning: never crashes, and says it knows few words
        assert c.kind in {"complaint", "suggestion", "inquiry", "praise"}


def test_matched_rules_are_recorded_for_audit():
    c = classify("세 번째 전화인데 금감원에 민원 넣겠습니다")
    assert "flag:regulator" in c.rules and "high:repeated" in c.rules


def test_a_repeat_complaint_is_one_level_more_urgent_up_to_high():
    c = classify("앱 로그인이 또 안 돼요 짜증나네요")
    assert c.urgency == "normal"
    raised = raise_urgency(c, 2)
    assert raised.repeat_count == 2 and raised.urgency == "high" and "repeat:normal->high" in raised.rules
    assert raise_urgency(c, 0) == c
    # critical needs a span of the text showing money or access at risk now (contract): a repeat is not one
    harm = classify("카드 대금이 두 번 결제됐어요. 환불해 주세요")
    assert harm.urgency == "high"
    again = raise_urgency(harm, 1)
    assert again.urgency == "high" and again.repeat_count == 1 and not any("->" in r for r in again.rules)
    lost = classify("카드를 잃어버렸는데 지금 모르는 결제가 계속 되고 있어요")
    assert raise_urgency(lost, 1).urgency == "critical"


def test_a_suggestion_that_mentions_a_lost_card_is_not_critical():
    c = classify("카드 잃어버렸을 때 가족이 대신 정지할 수 있게 기능을 만들어 주세요. 그러면 훨씬 편할 것 같아요.")
    assert c.kind == "suggestion" and c.urgency == "low"


def test_a_critical_call_by_the_model_is_anchored_to_a_word_and_respects_the_past_guards():
    from services.classifier.domain.lexicon import load_lexicon
    from services.classifier.domain.rules import MODEL_RULE, Text, model_critical

    lex = load_lexicon()
    text = "아까부터 통장 잔액이 이상하게 줄어요. 출금 알림은 못 받았는데 확인 좀 해주세요"
    hit = model_critical(Text(text), lex)
    assert list(hit) == [MODEL_RULE] and text[hit[MODEL_RULE].start:hit[MODEL_RULE].end] == "출금"
    assert model_critical(Text("작년에 있었던 출금 건 문의드립니다"), lex) == {}  # a past event: guarded
    assert model_critical(Text("앱 화면 글씨가 너무 작아요"), lex) == {}  # no anchor word: no call


def test_a_specific_incident_that_needs_a_remedy_is_a_complaint_not_a_suggestion():
    c = classify("카드 연회비가 두 번 청구됐어요. 환불해 주세요.")
    assert c.kind == "complaint" and c.urgency == "high" and "high:material_harm" in c.rules


@pytest.mark.parametrize("text", [
    "카드 결제 화면이 보이지 않아요",
    "담당자가 연락두절이에요 이 사기꾼들아 환불해 줘",  # an insult, not a scam
    "검찰이라는 사람이 앱을 깔라고 했는데 아무것도 안 깔고 끊었어요",  # an attempt, nothing done
    "안 쓰는 부가서비스 요금이 석 달째 결제되고 있어요",  # a months-old charge, not happening now
    "결제가 계속 되지 않아요",
    "인증번호 전송이 안 돼요",
    "새 기기로 로그인이 안 돼요",
    "인증서 재발급 방법을 모르겠어요",
    "지점 입구에 안내문이 붙어 있던데 무슨 내용인가요",
    "카드를 잃어버렸다가 찾았는데 정지 해제가 안 돼요",  # found again: no rule, and the model's call is guarded
    "검찰이라는 전화를 받았는데 이상해서 끊었어요 돈은 안 보냈어요",  # an attempt with no loss: high
    "ATM 투입구에 뭔가 덧대져 있어서 카드는 안 넣었어요 확인 부탁드려요",
    "새 기기 로그인 알림이 와서 놀랐는데 확인해 보니 제 노트북이었어요",
])
def test_routine_texts_that_share_words_with_emergencies_are_not_critical(text):
    assert classify(text).urgency != "critical"


@pytest.mark.parametrize("text", [  # an independent review's probes of lexicon 2026.11-4/-5 (fixed)
    "머리 장식 구매했는데 결제가 두 번 됐어요",
    "상담원이 좀 더 두고 보자고 해서 기다렸는데 아직 연락이 없네요",
    "상담사 년차가 낮아서 설명이 서툴렀어요",
    "상담원님 직통 번호 좀 알려주세요",
    "상담원이 퇴근하고 나면 누가 처리해 주나요",
    "목소리로 본인 인증하고 실물 카드 받았어요",
    "갤러리에서 사진을 올리려는데 앱이 꺼져요",
    "이 포인트는 카페에서 쓸 거예요",
    "금감원에 물어보니 은행에 문의하라고 하던데요",
    "만 18세 이상만 가입 가능한가요?",
    "지정가 매수 주문이 계속 체결이 안 되는데 왜 그런가요",
    "근저당이 잡혀 있어서 말소 서류를 등기소에 보냈어요",
    "통장이 압류됐다고 해서 법원 서류를 지점에 보냈어요",
    "월급 계좌가 변경됐다고 회사에 말했는데 급여가 예전 계좌로 입금됐어요",
    "전화번호가 바뀌었는데 아직 앱에서 변경은 안 했어요",
    "제가 모르는 사이에 연회비 정책이 변경됐더라고요",
    "보험금 지급 계좌를 다른 사람 명의로 할 수 있나요?",
    "제가 접속 안 했더니 휴면 계좌로 바뀌었어요",
    "전세 잔금 현금으로 찾아서 집주인한테 전달해야 하는데 한도가 얼마예요",
    # an independent review's probes of lexicon 2026.11-8/-9 (fixed in -10)
    "신분증을 집에 두고 왔는데 창구에서 본인확인 어떻게 하나요?",
    "통장 만든 지점이 없어졌던데 어디로 가야 하나요",
    "통장 거래내역이 앱에서 없어졌어요",
    "통장 비밀번호를 잃어버렸어요",
    "통장 도난 시 보상되나요?",
    "돈 찾으러 갔는데 대기가 너무 길어서 그냥 나왔어요",
    "보험료를 더 내라고 하는데 납득이 안 됩니다",
    "카드 명세서에 할인이 빠진 거 같아요",
    "로그아웃을 안 하고 앱을 껐는데 괜찮은가요?",
    "블로그 후기 보고 가입했는데 다음 달에 해지할 생각이에요",
    "서류는 스캔하고 소각한다고 들었는데 맞나요",
    "한국어 조금 하는 직원분이 응대해 주셔서 좋았어요",
    "최근 증권 계좌가 털렸다는 뉴스가 많아서 걱정됩니다 아직 이상한 일은 없었지만 설정 방법 알려주세요",
])
def test_routine_texts_raise_no_flag_and_no_critical_urgency(text):
    c = classify(text)
    assert c.flags == () and c.urgency != "critical", (c.flags, c.urgency, c.rules)


def test_a_lost_card_reported_in_suggestion_words_is_critical_and_rules_list_only_what_applied():
    c = classify("어제 카드 도난 당했어요. 지금 정지 기능 좀 만들어 주세요")
    assert c.urgency == "critical" and c.kind != "suggestion" and "critical:card_lost_or_stolen" in c.rules
    idea = classify("분실신고를 앱 첫 화면에 두는 기능을 만들어 주세요. 카드 잃어버렸을 때 찾기 쉽게요.")
    assert idea.kind == "suggestion" and idea.urgency == "low" and not any(r.startswith("critical:") for r in idea.rules)
    thanks = classify("어제 카드 잃어버렸는데 상담원분이 바로 정지해 주셔서 정말 감사했어요")
    assert thanks.kind == "praise" and not any(r.startswith("critical:") for r in thanks.rules)


def test_reading_about_it_in_the_news_is_not_a_media_threat():
    assert "media" not in classify("뉴스에서 보고 알게 됐는데 이 이야기가 사실인가요").flags
    assert "media" not in classify("뉴스에서보고알게됐는데이이야기가사실인가요").flags  # STT without spaces


@pytest.mark.parametrize("text, share", [
    ("카드 분실 신고합니다", 1.0),
    ("", 0.0), ("!!! 123", 0.0),                       # no letters at all
    ("앱 login 안돼요", 4 / 9),                          # letters, not characters: spaces and digits do not count
    ("ㅋㅋ ㅠㅠ 결제 error", 6 / 11),                     # jamo count as Hangul
    ("asdf qwer zxcv", 0.0),
])
def test_hangul_share_is_the_share_of_letters_that_are_hangul(text, share):
    from services.classifier.domain.normalise import hangul_share

    assert hangul_share(text) == pytest.approx(share)
