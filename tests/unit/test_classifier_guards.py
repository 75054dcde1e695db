"""The flag guards of lexicon 2026.11-12 (../shared/CLASSIFIER_CONTRACT.md: the regulator, media and legal
flags are about the customer escalating; abusive is abuse aimed at staff), from an audit of the guards:
scammers posing as an authority, staff acting or speaking, negation and being sued are not the customer's
escalation; true escalations keep their flags. Also the audit's lexicon gaps: a charge that went through
twice is material harm (high), "경찰 불렀어요" is a police report, and thankful turns are not angry."""

import pytest

from services.classifier.domain.alerts import screen_segment
from services.classifier.domain.lexicon import load_lexicon
from tests.unit.classifier_once import classifier

LEX = load_lexicon()


def classify(text):
    return classifier().classify(text)


@pytest.mark.parametrize("text", [
    # a scammer posing as the authority, with a name or a title between ("…라는 사람")
    "금융감독원 팀장 김철수라는 사람이 연락 와서 대출을 받으라고",
    "아 네 그 금감원 조사국 김 팀장이라는 사람이 연락 와서요",  # STT
    "금감원 분쟁조정국 이민수 팀장이라는 분이 전화해서 안전계좌로 옮기라고",
    # a smishing text in the regulator's name ("…에서 …됐다는 문자")
    "금감원에서 민원이 접수됐다는 문자가 왔는데 링크를 눌렀어요",
    "국민신문고 민원이 접수되었다는 문자를 받고 링크를 눌렀어요",
    # scammers posing as police or a law office; being sued, as it happened, is not suing
    "경찰이라고 하는 사람이 전화해서 고소당했다고",
    "변호사 사무실이라며 문자가 왔는데 소송 걸렸다고",
    "변호사라는 사람이 문자로 소송 예정이라고 협박해요",
    "소송을 당했는데 대출 가능한가요",
    # negation: never did it, no use doing it, meant to and held back
    "제가 금감원에 민원 넣은 적은 없어요",
    "고소하려고 했는데 참았습니다",
    "금감원에 민원 넣어봐야 달라질 게 없죠",
    # staff acting or speaking, not the customer
    "은행 직원이 금감원에 민원 넣어도 소용없다고 하네요",
    "상담원이 저보고 소송 걸든지 말든지 하라고 했어요",
    "저희 어머니를 도와주신 직원분이 경찰까지 불러 주셔서 감사했어요",
    "상대방이 저를 고소하겠다고 해요",  # the other party, not the customer
    # abuse the customer heard from staff is a staff_service complaint, not abuse aimed at staff
    "상담원이 저한테 씨발이라고 욕을 했어요",
    "직원한테 멍청하다는 소리를 들었어요",
    "직원한테 씨발 소리 들었는데 사과도 없네요",
])
def test_not_the_customer_escalating_or_abusing_staff_sets_no_flag(text):
    assert classify(text).flags == ()


@pytest.mark.parametrize("text,flags", [
    ("금감원에 민원 넣겠습니다", ("regulator",)),
    ("이미 국민신문고에 신고 접수했습니다", ("regulator",)),
    ("직원이 너무 불친절해서 금감원에 민원 넣을 겁니다", ("regulator",)),  # staff is the cause, not the agent
    ("상담원이 거짓말해서 금감원에 신고했어요", ("regulator",)),
    ("상담원이 계속 말을 끊어서 금감원에 민원 넣었습니다", ("regulator",)),
    ("금감원에 민원 넣었는데 직원이라는 사람이 전화 와서 취하하라고 하네요", ("regulator",)),  # two clauses
    ("금감원에 민원 넣은 적은 없지만 이번엔 넣겠습니다", ("regulator",)),
    ("금감원에 민원 넣으려고 했는데 참았는데 이제는 못 참겠네요", ("regulator",)),
    ("은행에서 이런 식이면 금감원에 민원 넣겠습니다", ("regulator",)),
    ("변호사 선임해서 소송 진행하겠습니다", ("legal",)),
    ("경찰에 신고했고 사건번호도 받았어요", ("legal",)),
    ("경찰 불렀어요", ("legal",)),
    ("경찰불렀어요", ("legal",)),
    ("지점에서 바로 경찰에 신고했어요", ("legal",)),  # the customer at the branch
    ("이러다 고소당할 줄 아세요", ("legal",)),  # a threat that the company will be sued
    ("계속 이러시면 소송 걸릴 겁니다 회사가", ("legal",)),
    ("언론에 제보할 겁니다", ("media",)),
    ("씨발 상담원 연결이 왜 이렇게 안되냐", ("abusive",)),
    ("상담원이 멍청하고 무식해요", ("abusive",)),  # an insult at staff, not a quote
    ("직원이 안 도와주길래 제가 씨발이라고 했어요", ("abusive",)),  # the customer said it
    ("고객 내점. 창구 직원에게 '씨발 니들이 뭘 알아'라며 욕설 후 귀가.", ("abusive",)),  # a note quoting the customer
])
def test_true_escalations_and_abuse_keep_their_flags(text, flags):
    assert classify(text).flags == flags


@pytest.mark.parametrize("text", [
    "카드 결제가 두 번 됐어요 환불해 주세요",
    "결제가 중복으로 됐어요",
    "같은 금액이 두 번 출금됐어요",
])
def test_a_charge_that_went_through_twice_is_material_harm(text):
    c = classify(text)
    assert c.urgency == "high" and "high:material_harm" in c.rules


def test_asking_whether_a_charge_can_go_through_twice_is_not_material_harm():
    assert "high:material_harm" not in classify("결제가 두 번 되는 경우도 있나요?").rules


@pytest.mark.parametrize("text", [
    "말이 돼요? 너무 잘됐네요",
    "감사합니다!!",
    "상담원님 덕분에 인증서 문제 해결됐어요!! 진짜 감사합니다",
    "기가 막히게 빠르네요",
])
def test_thankful_turns_are_not_angry(text):
    assert not screen_segment(text, LEX).angry


@pytest.mark.parametrize("text", [
    "이게 말이 돼요?",
    "도대체 뭐 하는 거예요!!",
    "감사는 무슨 일을 이따위로 해요!!",
    "기가 막혀서 말이 안 나와요",
])
def test_angry_turns_stay_angry(text):
    assert screen_segment(text, LEX).angry
