import uuid
from datetime import UTC, datetime, timedelta

from services.classifier.domain.alerts import screen_segment
from services.classifier.domain.lexicon import load_lexicon
from services.intake.domain.calls import Segment, assemble, case_text, opens_case
from shared.events import case_id_for_call

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
LEX = load_lexicon()


def seg(seq, speaker, text):
    return Segment(seq, speaker, text, T0 + timedelta(seconds=seq))


def test_segments_are_assembled_in_order_without_duplicates():
    turns = assemble([seg(2, "customer", "결제가 두 번 됐어요"), seg(0, "agent", "네 목소리카드입니다"),
                      seg(1, "customer", "아 네 그게요"), seg(2, "customer", "결제가 두 번 됐어요 (재전송)"),
                      seg(3, "agent", "확인해 보겠습니다")])
    assert [t.text for t in turns] == ["네 목소리카드입니다", "아 네 그게요", "결제가 두 번 됐어요", "확인해 보겠습니다"]
    assert [t.speaker for t in turns] == ["agent", "customer", "customer", "agent"]


def test_a_blank_segment_or_summary_does_not_stop_the_call_becoming_a_case():
    """A segment of silence (" ") is accepted from the STT system; assembling the case once made a Turn
    of it, which refused it, and the call's case was never opened."""
    turns = assemble([seg(0, "customer", "금감원에 민원 넣을 거예요"), seg(1, "customer", " \u3000"), seg(2, "agent", "네")])
    assert [t.text for t in turns] == ["금감원에 민원 넣을 거예요", "네"]
    assert case_text("  ", turns) == "금감원에 민원 넣을 거예요"


def test_a_call_becomes_a_case_on_a_voc_outcome_or_an_alert():
    assert opens_case("complaint", set())
    assert opens_case("none", {"regulator"})
    assert not opens_case("none", set())


def test_case_text_prefers_the_summary_then_the_customer():
    turns = assemble([seg(0, "agent", "안녕하세요"), seg(1, "customer", "카드 분실이요")])
    assert case_text("카드 분실 신고 및 재발급", turns) == "카드 분실 신고 및 재발급"
    assert case_text(None, turns) == "카드 분실이요"


def test_call_case_id_is_known_during_the_call():
    assert case_id_for_call("CALL-1") == case_id_for_call("CALL-1") != case_id_for_call("CALL-2")
    assert isinstance(case_id_for_call("CALL-1"), uuid.UUID)


def reasons(text):
    return {a[0] for a in screen_segment(text, LEX).alerts}


def test_live_screening_raises_on_escalation_words_but_not_on_impersonation():
    s = screen_segment("아니 이거 해결 안 되면 금감원에 민원 넣고 언론에도 제보할 거예요", LEX)
    assert {a[0] for a in s.alerts} == {"regulator", "media"}
    assert all(evidence for *_, evidence in s.alerts)
    assert reasons("금감원 직원이라는 사람한테 전화가 왔었어요") == set()
    assert reasons("지금 제가 안 한 결제가 계속 승인되고 있어요") == {"critical"}
    assert reasons("음 잠깐만요 확인해 볼게요") == set()


def test_angry_and_abusive_turns_are_counted_for_the_emotion_alert():
    assert screen_segment("아니 지금 장난해요? 책임자 바꿔요", LEX).angry
    assert not screen_segment("네 알겠습니다 기다릴게요", LEX).angry
    abusive = screen_segment("씨발 몇 번을 말해", LEX)
    assert abusive.abusive and abusive.angry and "abusive" in {a[0] for a in abusive.alerts}


def test_live_screening_searches_exactly_the_flags_that_raise_live_alerts():
    from services.classifier.domain.alerts import ALERT_FLAGS, QUIET
    from services.classifier.domain.lexicon import SCREENED_FLAGS

    assert set(SCREENED_FLAGS) == set(ALERT_FLAGS)
    # a vulnerability cue alone raises no live alert, so the turn is not looked at closely
    assert screen_segment("저희 어머니가 여든이 넘으셔서 제가 대신 전화드렸어요", LEX) is QUIET


def test_the_cheap_test_lets_through_every_turn_the_close_look_would_alert_on():
    """`could_alert` only skips turns `screen_closely` finds nothing in: over every speech
    segment of the corpus and turns whose words match only as written, only without spaces or
    only with letters typed apart put together."""
    from services.classifier.domain.alerts import QUIET, could_alert, screen_closely
    from services.classifier.training.corpus import CORPUS_DIR, read_jsonl

    stt = [e.text for e in read_jsonl(CORPUS_DIR / "train.jsonl") + read_jsonl(CORPUS_DIR / "test.jsonl")
           if e.style == "stt"]
    turns = [" ".join(t.split()[i:i + 6]) for t in stt for i in range(0, len(t.split()), 6)]
    turns += ["어 니네가 책임질 거야 시X 상담원", "너 머리 나쁘지 내가 한 말", "금 감 원 에 민 원 넣 을 게 요",
              "ㅅ ㅂ 진짜 몇번을 말해", "ㅆㅣㅂㅏㄹ 장난하냐", "카드를잃어버렸는데누가결제를했어요"]
    alerting = 0
    for turn in turns:
        close = screen_closely(turn, LEX)
        assert screen_segment(turn, LEX) == close, turn
        if close != QUIET:
            alerting += 1
            assert could_alert(turn, LEX), turn
    assert 300 < alerting < len(turns) / 4  # most turns of a call are quiet


def test_abuse_written_with_a_masked_letter_or_across_a_space_raises_a_live_alert():
    # the single pattern searched without spaces missed both before the prefilter took its place
    assert reasons("어 니네가 책임질 거야 시X 상담원") == {"abusive"}
    assert reasons("너 머리 나쁘지 내가 한 말") == {"abusive"}
