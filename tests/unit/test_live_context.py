"""Live screening reads a turn with the end of the call's previous customer turn: STT cuts speech at pauses, so a
watch word and what the customer does with it may fall in two segments. What the previous turn shows alone was
its own turn's; anger and abuse are counted in the turn they are said in."""

from __future__ import annotations

import pytest

from services.classifier.domain.alerts import CONTEXT_CHARS, carries, screen_segment
from services.classifier.domain.lexicon import load_lexicon

LEX = load_lexicon()


def reasons(text: str, before: str = "") -> set[str]:
    return {reason for reason, *_ in screen_segment(text, LEX, before).alerts}


@pytest.mark.parametrize("first,second,reason", [
    ("아 네 그게요 금감원에", "민원 넣을 거예요 진짜로", "regulator"),
    ("이거 안 되면 소비자원에", "신고할 겁니다", "regulator"),
    ("국민신문고에", "올릴 거예요", "regulator"),
])
def test_an_alert_cut_in_two_by_the_stt_is_heard_in_the_second_turn(first, second, reason):
    assert reason not in reasons(first) | reasons(second)  # each alone shows nothing
    assert carries(first[-CONTEXT_CHARS:], LEX)  # it names the body the customer will turn to
    assert reason in reasons(second, first[-CONTEXT_CHARS:])


def test_only_a_turn_that_names_an_escalations_watch_word_is_read_with_the_next():
    assert not carries("아 네 그게요 제가 어제 카드 결제를 했는데", LEX)  # most turns: read alone, as before
    assert carries("아 그 기자님한테", LEX) and carries("변호사 사무실에", LEX)


def test_evidence_offsets_are_the_turns_and_a_span_begun_before_starts_below_zero():
    s = screen_segment("민원 넣을 거예요", LEX, "금감원에")
    [(_, _, message, (ev,))] = [a for a in s.alerts if a[0] == "regulator"]
    assert message.startswith("[통화 중]") and ev.start < 0 < ev.end and ev.text.startswith("금감원")


def test_what_the_previous_turn_showed_alone_is_not_the_next_turns_and_anger_is_counted_where_it_is_said():
    before = "아 진짜 씨발 장난하냐"
    assert screen_segment(before, LEX).abusive
    calm = screen_segment("네 알겠습니다 기다릴게요", LEX, before)
    assert calm.alerts == () and calm.angry == () and not calm.abusive
    again = screen_segment("씨발 진짜", LEX, before)
    assert again.abusive and again.angry  # the turn's own abuse, counted for this turn too
