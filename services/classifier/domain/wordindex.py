"""A text's model features, word by word, as vocabulary indices (pure; memoised in memory).

`features.py` says what a text's features are; building them is most of the classifier's
own time per text: ~300 feature strings, each looked up in a vocabulary of ~75,000 (a
random memory access apiece). But a space-separated word's own features (its morphemes,
the bigrams inside it, the character n-grams inside it) depend on that word alone, and VOC
text repeats its words: in one pass over the corpus, 77 % of the words had been seen
before. So each distinct word is analysed, turned into features and looked up once, and
kept in a bounded LRU cache as vocabulary indices; per text only the few features that
join neighbouring words are built and looked up. The result is the same multiset as
`features()` (a unit test checks every text of the corpus) and the model scores it the
same way (`LinearModel.probabilities_indexed`).

Words longer than `cached_word_chars` (speech-to-text without spaces is one long word)
are indexed without the cache: they hardly repeat, and a few would hold megabytes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from services.classifier.domain.features import Morph, joining_features, word_features

DEFAULT_CACHE_WORDS = 50_000  # the corpus has 24,038 distinct words
CACHED_WORD_CHARS = 24  # 4 of the corpus's words are over 30 characters


@dataclass(frozen=True, slots=True)
class IndexedWord:
    known: tuple[int, ...]    # vocabulary indices of the word's own features, one per occurrence
    unknown: tuple[str, ...]  # its own features the model does not know (they count in the known share)
    first: str | None         # its first and last kept morphemes, for bigrams with its neighbours
    last: str | None


@dataclass(frozen=True)
class IndexedTexts:
    """A batch's known features (`ix[k]` occurs in text `row[k]`, once per occurrence) and each
    text's distinct unknown features."""
    row: np.ndarray
    ix: np.ndarray
    unknown: list[set[str]]


class WordIndex:
    def __init__(self, analyse_word: Callable[[str], Sequence[Morph]], vocabulary: dict[str, int], *,
                 cache_words: int = DEFAULT_CACHE_WORDS, cached_word_chars: int = CACHED_WORD_CHARS) -> None:
        if cache_words < 0 or cached_word_chars < 1:
            raise ValueError(f"cache_words must be >= 0 and cached_word_chars >= 1, "
                             f"not {cache_words} and {cached_word_chars}")
        self._analyse, self._vocabulary, self._cached_chars = analyse_word, vocabulary, cached_word_chars
        self._cached = lru_cache(maxsize=cache_words)(self.index_word)

    def index_word(self, word: str) -> IndexedWord:
        names, first, last = word_features(self._analyse(word), word)
        found = list(map(self._vocabulary.get, names))
        return IndexedWord(tuple(i for i in found if i is not None),
                           tuple(f for f, i in zip(names, found) if i is None), first, last)

    def word(self, word: str) -> IndexedWord:
        return self._cached(word) if len(word) <= self._cached_chars else self.index_word(word)

    def texts(self, normalised: Sequence[str]) -> IndexedTexts:
        """The features of normalised texts (words separated by single spaces, see normalise.py)."""
        get, word = self._vocabulary.get, self.word
        ix: list[int] = []
        counts: list[int] = []
        unknown: list[set[str]] = []
        for text in normalised:
            words = text.split(" ") if text else []
            indexed = [word(w) for w in words]
            before = len(ix)
            missing: set[str] = set()
            for w in indexed:
                ix += w.known
                missing.update(w.unknown)
            for f in joining_features(words, [(w.first, w.last) for w in indexed]):
                i = get(f)
                if i is None:
                    missing.add(f)
                else:
                    ix.append(i)
            counts.append(len(ix) - before)
            unknown.append(missing)
        return IndexedTexts(np.repeat(np.arange(len(counts)), counts), np.fromiter(ix, np.int64, len(ix)), unknown)

    def cache_info(self):
        """Hits, misses and size of the word cache (functools' CacheInfo)."""
        return self._cached.cache_info()

    def clear_cache(self) -> None:
        self._cached.cache_clear()
