"""Text is kept as it reads, in one form, from the edge on (shared/events.py `Text`): a number or a watch word
hidden behind invisible characters, typed in full width, or decomposed by a Mac is what a reader sees, so
masking and the classifier's rules see it too. Before, 010\u200b1234\u200b5678 left intake unmasked and a
decomposed 금감원 raised no flag."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pydantic
import pytest

from services.classifier.domain.alerts import screen_segment
from services.classifier.domain.lexicon import load_lexicon
from shared.events import SttSegment, VocSubmission
from shared.pii import mask_text
from tests.unit.classifier_once import classifier

NOW = datetime(2026, 11, 25, 10, tzinfo=UTC)


def submitted(text: str) -> str:
    return VocSubmission(channel="app", text=text).text


@pytest.mark.parametrize("hidden,shown", [
    ("연락처 010\u200b1234\u200b5678 로 연락 주세요", "5678"),        # zero-width spaces
    ("카드번호 4111\u20601111\u20601111\u20601111 분실", "4111111111111111"),  # word joiners
    ("주민번호 850315\u00ad1234567", "1234567"),                    # a soft hyphen
    ("메일은 hong\u200d@example.com 입니다", "hong@"),               # a zero-width joiner next to a letter
    ("연락처 ０１０－１２３４－５６７８", "５６７８"),                     # full width
    (unicodedata.normalize("NFD", "연락처 010-1234-5678"), "5678"),  # decomposed Hangul around it
])
def test_a_number_behind_invisible_or_wide_characters_is_masked(hidden, shown):
    masked = mask_text(submitted(hidden))
    assert shown not in masked and "*" in masked, masked


def test_text_reads_the_same_after_and_emoji_keep_their_joiners():
    assert submitted(unicodedata.normalize("NFD", "금감원에 민원")) == "금감원에 민원"
    assert submitted("ＦＳＳ에 신고할게요 𝐅𝐒𝐒") == "FSS에 신고할게요 FSS"
    family = "가족 사진 👩\u200d👩\u200d👧 보냈어요"
    assert submitted(family) == family
    assert submitted("\u202e요세주 해결\u202c") == "요세주 해결"  # a right-to-left override, dropped
    with pytest.raises(pydantic.ValidationError, match="no visible characters"):
        submitted("\u200b\u200b")


def test_the_classifier_sees_a_watch_word_however_it_was_typed():
    """VocReceived carries intake's text, validated and masked: what the classifier reads."""
    clf = classifier()
    for typed in (unicodedata.normalize("NFD", "금감원에 민원 넣을 거예요"), "금\u200b감원에 민원 넣을 거예요",
                  "ＦＳＳ에 민원 넣겠습니다"):
        assert "regulator" in clf.classify(mask_text(submitted(typed))).flags, typed
    lost = unicodedata.normalize("NFD", "카드를 잃어버렸는데 지금 모르는 결제가 계속 되고 있어요")
    assert clf.classify(mask_text(submitted(lost))).urgency == "critical"


def test_live_screening_hears_a_decomposed_watch_word():
    segment = SttSegment(call_id="call-1", seq=0, speaker="customer", ts=NOW,
                         text=unicodedata.normalize("NFD", "아 네 그게요 금감원에 민원 넣을 거예요"))
    assert "regulator" in {a[0] for a in screen_segment(segment.text, load_lexicon()).alerts}
