"""Lexicon 2026.11-13 (../shared/CLASSIFIER_CONTRACT.md: regulator, media and legal are the customer escalating,
staff actions do not set them; abusive is abuse or threats aimed at staff), five defects found in session 35:

1. staff advising the customer to report ("신고하셔야 한다고 직원분이 알려주셨어요") set legal;
2. a branch staff note's own police report ("… 112 신고함.") set legal;
3. a threat to kill in another ending of 버리다 ("죽여버린다고", "죽여버릴거야") was not abusive;
4. staff's suggestion cancelled a regulator hit the customer then took up ("… 넣으라고 하던데 넣겠습니다");
5. the offline `moksori classify` read a text as written, where the service reads it as shared/events.py `Text`
   does (invisible characters dropped, full-width letters plain, Hangul composed).

Each fix comes with near misses it must not reach: the customer's own view or report, quoted threats, scammers
posing as the regulator, refusals."""

from __future__ import annotations

import io
import json
import unicodedata

import pytest
from typer.testing import CliRunner

from services.classifier.domain.alerts import screen_segment
from services.classifier.domain.lexicon import load_lexicon
from services.classifier.offline import classify_stream
from shared.events import Classification, VocSubmission
from tests.unit.classifier_once import classifier

LEX = load_lexicon()


def classify(text, channel=None):
    return classifier().classify(text, channel=channel)


def flag_evidence(c, flag):
    return next(e for e in c.evidence if e.field == "flags" and e.label == flag)


# 1. advice from staff (or anyone) to report is not the customer reporting

@pytest.mark.parametrize("text", [
    "경찰에 신고하셔야 한다고 직원분이 알려주셨어요",
    "신고하셔야 한다고 직원분이 알려주셨어요",
    "112에 신고하셔야 한다고 하더라고요",
    "경찰에 신고해야 한다고 직원이 그러더라구요",
    "경찰에 신고하시라고 안내받았어요",
    "금감원에 신고하셔야 한다고 상담원이 알려줬어요",
])
def test_advice_to_report_sets_no_flag(text):
    assert classify(text).flags == ()


@pytest.mark.parametrize("text,flag", [
    ("경찰에 신고해야 한다고 생각합니다", "legal"),  # the customer's own view
    ("경찰에 신고하셔야 한다고 직원분이 알려주셔서 바로 신고했어요", "legal"),  # advised, then did it
    ("직원분이 경찰에 신고하라고 해서 신고했습니다", "legal"),
])
def test_the_customer_taking_the_advice_or_their_own_view_keeps_the_flag(text, flag):
    assert classify(text).flags == (flag,)


# 2. a branch staff note's own police report is staff acting

@pytest.mark.parametrize("text,channel", [
    ("경찰 신고함", "branch"),
    ("경찰에 신고함.", "branch"),
    ("고객 내점. 보이스피싱 피해 확인. 경찰 신고함.", "branch"),
    ("고객 내점. 보이스피싱 피해 확인. 경찰 신고함.", None),  # a note's opening, without the channel
    ("60대 고객 내점, 현금 인출 요청. 통화 중 지시받는 정황. 인출 보류, 지점장 보고 후 112 신고함.", None),
    ("고객 내점. 피싱 의심되어 인출 보류, 112 신고 및 가족 연락함.", "branch"),
    ("직원이 직접 경찰에 신고함.", "branch"),
])
def test_a_police_report_in_a_staff_note_is_the_branchs_not_the_customers(text, channel):
    assert "legal" not in classify(text, channel).flags


@pytest.mark.parametrize("text,channel", [
    ("고객이 경찰에 직접 신고함.", "branch"),
    ("고객 내점하여 경찰에 신고하겠다며 항의함.", "branch"),
    ("고객 내점. 사기 피해로 어제 경찰에 신고했다며 지급정지 요청.", "branch"),
    ("고객 내점. 고객 본인이 경찰 신고 완료했다고 함.", "branch"),
    ("고객 내점. 오늘 오전 소매치기 피해, 112 신고 후 바로 방문. 카드 정지 요청.", "branch"),  # before coming in
    ("경찰 신고함", "app"),  # the customer writing in shorthand
    ("보이스피싱 당해서 경찰에 신고함 ㅠㅠ", None),
])
def test_the_customers_own_police_report_keeps_legal(text, channel):
    assert "legal" in classify(text, channel).flags


# 3. a threat to kill, in any ending

@pytest.mark.parametrize("text", [
    "죽여버린다고",
    "죽여버릴거야",
    "한 번만 더 이러면 죽여버릴거야",
    "상담원 너 확 죽여 버린다",
    "고객이 직원에게 죽여버린다고 협박함",  # a staff note quoting the customer
    "제가 화가 나서 죽여버린다고 했어요",  # the customer as the speaker
])
def test_a_threat_to_kill_is_abusive(text):
    c = classify(text)
    assert "abusive" in c.flags
    assert flag_evidence(c, "abusive").text.startswith("죽여")


def test_a_threat_to_kill_is_an_abusive_turn_on_a_live_call():
    assert screen_segment("한 번만 더 이러면 죽여버릴거야", LEX).abusive


@pytest.mark.parametrize("text", [
    "상담원이 저한테 죽여버린다고 했어요",  # staff said it to the customer
    "모르는 사람이 저한테 전화로 죽여버린다고 협박했어요",  # heard from someone else
    "죽여버리겠다는 협박을 받았어요",
])
def test_a_threat_the_customer_heard_is_not_abusive(text):
    assert "abusive" not in classify(text).flags


# 4. staff's suggestion, then the customer's own commitment

def test_the_customers_commitment_after_staffs_suggestion_restores_regulator():
    text = "직원이 금감원에 민원 넣으라고 하던데 넣겠습니다"
    c = classify(text)
    assert c.flags == ("regulator",)
    ev = flag_evidence(c, "regulator")
    assert ev.rule == "regulator:own_commitment"
    assert ev.text == "금감원에 민원 넣으라고 하던데 넣겠습니다" == text[ev.start:ev.end]


@pytest.mark.parametrize("text", [
    "상담원이 소비자원에 신고하라고 해서 신고했어요",
    "직원이 금감원에 민원 넣으라고 하길래 저도 넣을 거예요",
])
def test_other_commitments_after_a_suggestion_restore_regulator(text):
    assert classify(text).flags == ("regulator",)


@pytest.mark.parametrize("text", [
    "직원이 금감원에 민원 넣으라고 하던데 안 넣을 거예요",  # refused
    "직원이 금감원에 민원 넣으라고 하던데 넣을 생각은 없어요",
    "직원이 금감원에 민원 넣으라고 하던데 어떻게 넣는 건가요",  # asked, not committed
    "직원이 금감원에 민원 넣었다고 하던데요",  # staff's, quoted
    "은행 직원이 금감원에 민원 넣었어요",  # staff's, one clause
    "직원이 금감원에 민원 넣으라고 하던데 직원이 대신 넣었대요",
    "금감원 직원이라는 사람한테 전화가 와서 돈을 넣었어요",  # a scammer posing as the regulator
    "금감원 직원이라는 사람이 민원 넣으라고 해서 넣었어요",
    "은행 직원이 금감원에 민원 넣어도 소용없다고 하네요",
])
def test_no_commitment_of_the_customers_sets_no_regulator(text):
    assert "regulator" not in classify(text).flags


# 5. offline classification reads a text as the service does

class Echo:
    """A classifier that records each text it is given in `notes`."""

    def classify_batch(self, items):
        return [Classification(kind="inquiry", topic="other", urgency="low", affiliate="group", sentiment="neutral",
                               confidence={}, notes=(item.text,)) for item in items]


HIDDEN = [
    "금\u200b감원에 민원 넣겠습니다",  # a zero-width space inside the watch word
    "ＦＳＳ에 민원 넣겠습니다",  # full width
    unicodedata.normalize("NFD", "금감원에 민원 넣겠습니다"),  # decomposed Hangul (a Mac's)
]


def lines(texts) -> bytes:
    return "".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts)).encode()


def test_offline_hands_the_classifier_the_text_as_the_service_reads_it():
    out = io.StringIO()
    assert classify_stream(io.BytesIO(lines(HIDDEN)), out, Echo()) == []
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["notes"] for r in rows] == [[VocSubmission(channel="app", text=t).text] for t in HIDDEN]


def test_offline_and_the_service_classify_a_hidden_watch_word_alike():
    out = io.StringIO()
    classify_stream(io.BytesIO(lines(HIDDEN)), out, classifier())
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    service = [classifier().classify(VocSubmission(channel="app", text=t).text) for t in HIDDEN]
    assert [r["flags"] for r in rows] == [list(c.flags) for c in service] == [["regulator"]] * 3


def test_a_control_character_gets_its_own_error_row_offline_and_nothing_visible_is_an_empty_text():
    out = io.StringIO()
    errors = classify_stream(io.BytesIO(lines(["카드 분실", "카드\x00분실", "\u200b\u200b", "카드 분실"])), out, Echo())
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [n for n, _ in errors] == [2]
    assert rows[0]["notes"] == ["카드 분실"] == rows[3]["notes"]
    assert rows[1]["error"].startswith("line 2: text") and "U+0000" in rows[1]["error"]
    assert rows[2]["notes"] == [""]  # classified as the empty text it reads as (`other`, with its reason)


def test_the_cli_classifies_a_hidden_watch_word_as_the_service_does(tmp_path):
    from services.cli import app

    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(lines(HIDDEN))
    result = CliRunner().invoke(app, ["classify", "--input", str(src), "--output", str(dst)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in dst.read_text(encoding="utf-8").splitlines()]
    assert [r["flags"] for r in rows] == [["regulator"]] * 3
    assert [e["text"] for e in rows[1]["evidence"] if e["field"] == "flags"] == ["FSS에 민원"]
