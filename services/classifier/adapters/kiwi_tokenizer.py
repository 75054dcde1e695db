"""Kiwi (kiwipiepy) morphological analysis: the tokenizer behind the features.

Loaded once per process (about a second, ~200 MB). The multi-word dictionary is
left out: it costs ~100 MB of memory and adds nothing the features need. The typo
dictionary is left out too: it makes analysis ~30 % slower, and with it or without
it cross-validated topic macro-F1 was the same (0.832 / 0.833 on 2,511 texts). The
character n-grams already carry typos such as 됬어요 and 안되요.

Each space-separated word (eojeol) is analysed on its own. Words repeat heavily in VOC
text: in one pass over the corpus's 4,750 texts, 77 % of the 103,610 words had been seen
before. A word's analysis then no longer depends on its neighbours (morphemes agree with
whole-text analysis at ~85 %); training and the service both read this same per-word
analysis, so the model learns what it will see. `morphs` (training, the offline tools)
keeps each word's analysis in a bounded LRU cache; the classifier calls `analyse_word`
and caches the word's features instead (domain/wordindex.py). Text without spaces
(speech-to-text) is one long word, which Kiwi still segments; words longer than
CACHED_WORD_CHARS are analysed without the cache (they hardly repeat, and a few long
ones would otherwise hold megabytes), so the cache stays within ~50,000 short words."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import lru_cache

from services.classifier.domain.features import Morph
from services.classifier.domain.wordindex import CACHED_WORD_CHARS, DEFAULT_CACHE_WORDS



class KiwiTokenizer:
    def __init__(self, cache_words: int = DEFAULT_CACHE_WORDS) -> None:
        from kiwipiepy import Kiwi  # heavy import, at construction time only

        if cache_words < 0:
            raise ValueError(f"cache_words must be >= 0, not {cache_words}")
        self._kiwi = Kiwi(num_workers=1, load_multi_dict=False, load_typo_dict=False)
        # Kiwi finishes loading lazily, on the first analysis (about a second); do it now, so it
        # happens during start-up (before readiness), not inside the first batch a consumer fetched
        self._kiwi.tokenize("")
        self._word = lru_cache(maxsize=cache_words)(self.analyse_word)

    def analyse_word(self, word: str) -> tuple[Morph, ...]:
        """One word, without the cache (the classifier keeps its own per-word cache, of features)."""
        intern = sys.intern  # forms and tags repeat across words: share one string each
        return tuple((intern(t.form), intern(t.tag)) for t in self._kiwi.tokenize(word, normalize_coda=True))

    def morphs(self, text: str) -> list[Morph]:
        cached, analyse = self._word, self.analyse_word
        out: list[Morph] = []
        for w in text.split():
            out += cached(w) if len(w) <= CACHED_WORD_CHARS else analyse(w)
        return out

    def morphs_batch(self, texts: Sequence[str]) -> list[list[Morph]]:
        return [self.morphs(t) for t in texts]

    def cache_info(self):
        """Hits, misses and size of the word cache (functools' CacheInfo)."""
        return self._word.cache_info()

    def clear_cache(self) -> None:
        self._word.cache_clear()
