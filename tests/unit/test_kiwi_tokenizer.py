"""The tokenizer analyses each word on its own, through a bounded cache: the same
analysis whether a word is cached or not, and the cache never outgrows its bound."""

from __future__ import annotations

import pytest

from services.classifier.adapters.kiwi_tokenizer import KiwiTokenizer


@pytest.fixture(scope="module")
def tok():
    return KiwiTokenizer(cache_words=4)


def _alone(tok: KiwiTokenizer, word: str) -> list[tuple[str, str]]:
    return [(t.form, t.tag) for t in tok._kiwi.tokenize(word, normalize_coda=True)]  # noqa: SLF001


def test_a_text_is_the_analyses_of_its_words_cached_or_not(tok):
    tok.clear_cache()
    text = "카드 정지 좀 해주세요 카드 분실이에요 ㅠㅠ"
    want = [m for w in text.split() for m in _alone(tok, w)]
    assert tok.morphs(text) == want
    first = tok.cache_info()
    assert (first.hits, first.misses) == (1, 6)  # the second 카드 is the one hit
    assert tok.morphs(text) == want  # now partly from the cache (4 words fit)
    assert tok.cache_info().hits > first.hits


def test_the_cache_stays_within_its_bound(tok):
    tok.clear_cache()
    tok.morphs("앱 로그인이 계속 안 돼요 이체도 막혔고 고객센터는 연결이 안 됩니다")
    assert tok.cache_info().currsize == 4


def test_a_long_word_is_analysed_but_not_cached(tok):
    tok.clear_cache()
    stt = "아그게요제가어제저녁에카드를잃어버려가지고요정지좀빨리해주세요"  # speech-to-text, no spaces
    assert tok.morphs(stt) == _alone(tok, stt)
    assert tok.cache_info().currsize == 0


def test_a_text_without_spaces_is_still_segmented(tok):
    forms = {f for f, _ in tok.morphs("카드를잃어버려가지고요정지해주세요")}
    assert {"카드", "정지"} <= forms


def test_no_cache_gives_the_same_analysis():
    no_cache = KiwiTokenizer(cache_words=0)
    text = "지난달 보험금 청구했는데 아직 감감무소식임 ㅡㅡ"
    assert no_cache.morphs(text) == [m for w in text.split() for m in _alone(no_cache, w)]
    assert no_cache.cache_info().currsize == 0


def test_a_negative_cache_size_is_refused():
    with pytest.raises(ValueError, match="cache_words"):
        KiwiTokenizer(cache_words=-1)
