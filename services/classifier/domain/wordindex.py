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

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from typing import NamedTuple

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


_KNOWN, _UNKNOWN, _ENDS = attrgetter("known"), attrgetter("unknown"), attrgetter("first", "last")


@dataclass(frozen=True)
class IndexedTexts:
    """A batch's known features (`ix[k]` occurs in text `row[k]`, once per occurrence) and each
    text's distinct unknown features."""
    row: np.ndarray
    ix: np.ndarray
    unknown: list[set[str]]


class CacheInfo(NamedTuple):
    hits: int       # word occurrences found in the cache (a word repeated within a batch counts each time)
    misses: int     # distinct words analysed
    maxsize: int
    currsize: int


class WordIndex:
    def __init__(self, analyse_word: Callable[[str], Sequence[Morph]], vocabulary: dict[str, int], *,
                 cache_words: int = DEFAULT_CACHE_WORDS, cached_word_chars: int = CACHED_WORD_CHARS) -> None:
        if cache_words < 0 or cached_word_chars < 1:
            raise ValueError(f"cache_words must be >= 0 and cached_word_chars >= 1, "
                             f"not {cache_words} and {cached_word_chars}")
        self._analyse, self._vocabulary, self._cached_chars = analyse_word, vocabulary, cached_word_chars
        self._max = cache_words
        self._cache: OrderedDict[str, IndexedWord] = OrderedDict()  # least recently used first
        self._lookups = self._misses = 0

    def _index(self, word: str, morphs: Sequence[Morph]) -> IndexedWord:
        names, first, last = word_features(morphs, word)
        found = list(map(self._vocabulary.get, names))
        return IndexedWord(tuple(i for i in found if i is not None),
                           tuple(f for f, i in zip(names, found) if i is None), first, last)

    def _words(self, distinct: set[str]) -> dict[str, IndexedWord]:
        """A batch's distinct words, indexed: those in the cache from it, the others analysed one
        after another before any is turned into features. Kiwi takes about half the time per word
        that way: between two analyses, Python's work on features pushes its tables out of the
        CPU's cache (65-77 against 128-140 µs a word, measured on the corpus's held-out words)."""
        cache, short = self._cache, self._cached_chars
        out: dict[str, IndexedWord] = {}
        todo: list[str] = []
        for w in distinct:
            iw = cache.get(w)
            if iw is None:
                todo.append(w)
            else:
                cache.move_to_end(w)
                out[w] = iw
        analysed = list(map(self._analyse, todo))
        for w, morphs in zip(todo, analysed):
            out[w] = iw = self._index(w, morphs)
            if len(w) <= short and self._max:
                self._misses += 1
                cache[w] = iw
        while len(cache) > self._max:
            cache.popitem(last=False)
        return out

    def texts(self, normalised: Sequence[str]) -> IndexedTexts:
        """The features of normalised texts (words separated by single spaces, see normalise.py)."""
        get = self._vocabulary.get
        split = [text.split(" ") if text else [] for text in normalised]
        short = self._cached_chars
        self._lookups += sum(1 for words in split for w in words if len(w) <= short)
        found = self._words({w for words in split for w in words})
        ix: list[int] = []
        counts: list[int] = []
        unknown: list[set[str]] = []
        for words in split:
            indexed = list(map(found.__getitem__, words))
            joins = joining_features(words, list(map(_ENDS, indexed)))
            looked_up = list(map(get, joins))
            before = len(ix)
            ix += chain.from_iterable(map(_KNOWN, indexed))  # a word's own features, then the joins
            ix += [i for i in looked_up if i is not None]
            counts.append(len(ix) - before)
            missing = set(chain.from_iterable(map(_UNKNOWN, indexed)))
            if None in looked_up:
                missing.update([f for f, i in zip(joins, looked_up) if i is None])
            unknown.append(missing)
        return IndexedTexts(np.repeat(np.arange(len(counts)), counts), np.fromiter(ix, np.int64, len(ix)), unknown)

    def cache_info(self) -> CacheInfo:
        """Hits, misses and size of the word cache (words longer than `cached_word_chars` not counted)."""
        misses = self._misses if self._max else self._lookups
        return CacheInfo(self._lookups - misses, misses, self._max, len(self._cache))

    def clear_cache(self) -> None:
        self._cache.clear()
        self._lookups = self._misses = 0
