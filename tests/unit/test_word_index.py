"""The classifier builds a text's features word by word (each word's own features cached
as vocabulary indices, the features joining neighbouring words built per text). That must
be exactly `features()` of the whole text, which training uses, and score exactly the same."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from services.classifier.adapters.kiwi_tokenizer import KiwiTokenizer
from services.classifier.adapters.model_file import DEFAULT_MODEL, load_model
from services.classifier.domain.features import features, joining_features, word_features
from services.classifier.domain.normalise import normalise
from services.classifier.domain.wordindex import WordIndex
from services.classifier.training.corpus import CORPUS_DIR, read_jsonl

EDGES = [
    "",
    "카 드 분 실 신 고",  # one-letter words: a 3-gram spans three words
    "아그게요제가어제저녁에카드를잃어버려가지고요정지좀빨리해주세요",  # STT without spaces: one long word
    "ㅠㅠ ㅋㅋ !! ?? 카드 ... 정지요",  # words with no kept morpheme between kept ones
    "OTP 인증 error 0000 계속 뜸 ㅡㅡ app 재설치함",
    "asdf qwer zxcv",
    "이체 이체 이체 안 됨 안 됨",  # repeated words and repeated joins (counts above one)
]


@pytest.fixture(scope="module")
def tok() -> KiwiTokenizer:
    return KiwiTokenizer()


@pytest.fixture(scope="module")
def model():
    return load_model(DEFAULT_MODEL)


def _texts() -> list[str]:
    corpus = read_jsonl(CORPUS_DIR / "train.jsonl") + read_jsonl(CORPUS_DIR / "test.jsonl")
    return [normalise(e.text) for e in corpus] + [normalise(t) for t in EDGES]


def test_words_and_joins_are_the_features_of_the_whole_text_over_the_corpus(tok):
    for norm in _texts():
        words = norm.split(" ") if norm else []
        parts = [word_features(tok.analyse_word(w), w) for w in words]
        got = Counter(f for names, _, _ in parts for f in names)
        got.update(joining_features(words, [(first, last) for _, first, last in parts]))
        assert got == features(tok.morphs(norm), norm), norm


@pytest.mark.parametrize("cache_words,cached_word_chars", [(50_000, 24), (8, 3), (0, 24)])
def test_indexed_scoring_equals_scoring_the_features(tok, model, cache_words, cached_word_chars):
    index = WordIndex(tok.analyse_word, model.vocabulary, cache_words=cache_words,
                      cached_word_chars=cached_word_chars)
    texts = _texts()[::7] + [normalise(t) for t in EDGES]
    for start in range(0, len(texts), 100):
        batch = texts[start:start + 100]
        indexed = index.texts(batch)
        got = model.probabilities_indexed(indexed.row, indexed.ix, indexed.unknown)
        want = model.probabilities_batch([features(tok.morphs(t), t) for t in batch])
        for text, (probs, known), (want_probs, want_known) in zip(batch, got, want):
            assert known == pytest.approx(want_known, abs=1e-12), text
            for head in model.heads:
                np.testing.assert_allclose(probs[head], want_probs[head], rtol=1e-9, atol=1e-12, err_msg=text)
    assert index.cache_info().currsize <= cache_words


def test_the_word_cache_is_bounded_and_long_words_stay_out(tok, model):
    index = WordIndex(tok.analyse_word, model.vocabulary, cache_words=4, cached_word_chars=6)
    index.texts([normalise("앱 로그인이 계속 안 돼요 이체도 막혔고 고객센터는 연결이 안 됩니다")])
    assert index.cache_info().currsize == 4
    index.clear_cache()
    index.texts(["아그게요제가어제저녁에카드를잃어버려가지고요"])
    assert index.cache_info().currsize == 0


@pytest.mark.parametrize("kwargs", [{"cache_words": -1}, {"cached_word_chars": 0}])
def test_bad_cache_settings_are_refused(model, kwargs):
    with pytest.raises(ValueError, match="cache_words must be >= 0 and cached_word_chars >= 1"):
        WordIndex(lambda w: [], model.vocabulary, **kwargs)


def test_a_batch_analyses_each_new_word_once_and_cached_words_not_again(tok, model):
    calls: list[str] = []

    def analyse(word: str):
        calls.append(word)
        return tok.analyse_word(word)

    index = WordIndex(analyse, model.vocabulary)
    index.texts(["이체 안 됨", "이체 또 안 됨 ㅠㅠ"])
    assert sorted(calls) == sorted(["이체", "안", "됨", "또", "ㅠㅠ"])
    info = index.cache_info()
    assert (info.hits, info.misses, info.currsize) == (3, 5, 5)  # 8 occurrences, 5 distinct words
    calls.clear()
    index.texts(["또 이체 안 됨", "카드 정지"])
    assert sorted(calls) == ["정지", "카드"]
