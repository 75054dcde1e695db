"""Features for the statistical model (pure): morphemes from the tokenizer plus
character n-grams of the normalised text with the spaces removed.

Four groups, by prefix; each model head reads the groups that serve it (chosen by
cross-validation, recorded in the model file):
  l:  content lemmas (nouns, verb and adjective stems, roots, adverbs, foreign words),
      what a text is about: topic and affiliate;
  m:  every meaningful morpheme with its tag, endings included;
  b:  morpheme bigrams (-어 주세요, -면 좋겠다, -나요);
  c:  character n-grams, robust to typos and missing spaces: with m: and b:, how a
      text is said: kind and sentiment.

Morphemes carry meaning whatever the spacing (Kiwi segments 카드를잃어버려가지고요
as well as the spaced form); character n-grams keep typos (됬어요, 안되요), slang and
masked numbers useful. The same function builds training and run-time features."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import accumulate

Morph = tuple[str, str]  # (form, Kiwi tag)

# tags that say what the text is about or how it is said
CONTENT = {"NNG", "NNP", "NNB", "NR", "NP", "VV", "VA", "VX", "VCN", "XR", "MAG", "MAJ", "MM", "IC", "SL", "SH", "SW",
           "XSV", "XSA", "XPN", "EF", "EC", "EP"}
# endings and particles alone are noise; in a bigram with their stem they mark
# requests (-어 주세요), wishes (-면 좋겠다) and questions (-나요)
BIGRAM_TAGS = CONTENT | {"ETM", "ETN", "JX", "JKB"}
LEMMA_TAGS = {"NNG", "NNP", "VV", "VA", "XR", "SL", "MAG"}
CHAR_NGRAMS = (2, 3)
GROUPS = "lmbc"  # every feature's name starts with one of these letters and a colon


def _tag(tag: str) -> str:
    return tag.split("-", 1)[0]  # VV-I / VV-R (irregular conjugation) -> VV


def _kept(morphs: Sequence[Morph]) -> list[Morph]:
    return [(form, t) for form, tag in morphs if (t := _tag(tag)) in BIGRAM_TAGS]


def _morpheme_names(kept: list[Morph]) -> list[str]:
    names = [f"m:{form}/{tag}" for form, tag in kept if tag in CONTENT]
    names += [f"l:{form}" for form, tag in kept if tag in LEMMA_TAGS]
    names += [f"b:{f1}_{f2}" for (f1, _), (f2, _) in zip(kept, kept[1:])]
    return names


def features(morphs: Sequence[Morph], normalised: str, char_ngrams: tuple[int, ...] = CHAR_NGRAMS) -> Counter[str]:
    names = _morpheme_names(_kept(morphs))
    compact = normalised.replace(" ", "")
    for n in char_ngrams:
        names += ["c:" + compact[i:i + n] for i in range(len(compact) - n + 1)]
    return Counter(names)  # counted in C


# The same features, in two parts, for a tokenizer that analyses each space-separated word on
# its own (the service's): a word's own features depend on that word alone, so they can be
# computed once per distinct word; only the features that join neighbouring words are built per
# text. `features(morphs, " ".join(words))` equals the features of every word plus the joins
# (a unit test checks this over the whole corpus).

def word_features(morphs: Sequence[Morph], word: str,
                  char_ngrams: tuple[int, ...] = CHAR_NGRAMS) -> tuple[list[str], str | None, str | None]:
    """A word's own features (morphemes, bigrams inside it, character n-grams inside it), and
    the forms of its first and last kept morphemes (for bigrams with its neighbours)."""
    kept = _kept(morphs)
    names = _morpheme_names(kept)
    for n in char_ngrams:
        names += ["c:" + word[i:i + n] for i in range(len(word) - n + 1)]
    return names, (kept[0][0] if kept else None), (kept[-1][0] if kept else None)


def joining_features(words: Sequence[str], ends: Sequence[tuple[str | None, str | None]],
                     char_ngrams: tuple[int, ...] = CHAR_NGRAMS) -> list[str]:
    """The features that span word boundaries: the bigram of one word's last kept morpheme and
    the next word's first (words with no kept morpheme are skipped, as in `features`), and the
    character n-grams that start in one word and end in a later one. `ends` holds each word's
    (first, last) from `word_features`."""
    kept = [fl for fl in ends if fl[0] is not None]
    names = [f"b:{a[1]}_{b[0]}" for a, b in zip(kept, kept[1:])]
    if len(words) < 2:
        return names
    if char_ngrams == (2, 3) and "" not in words:
        # the default n-grams from the words' ends, without joining the text and slicing it
        # (this runs for every text): at each boundary the 2-gram, the 3-gram that starts one
        # letter earlier, and the one that starts at the last letter and runs on past a
        # one-letter word into the word after it
        after = words[1:]
        names += ["c:" + a[-1] + b[0] for a, b in zip(words, after)]
        names += ["c:" + a[-2:] + b[0] for a, b in zip(words, after) if len(a) > 1]
        names += ["c:" + a[-1] + b[:2] for a, b in zip(words, after) if len(b) > 1]
        names += ["c:" + a[-1] + b + c[0] for a, b, c in zip(words, after, words[2:]) if len(b) == 1]
        return names
    compact = "".join(words)
    size = len(compact)
    ends_at = list(accumulate(map(len, words[:-1])))  # where each word but the last ends in `compact`
    spans = list(zip([0, *ends_at[:-1]], ends_at))
    for n in char_ngrams:
        names += ["c:" + compact[i:i + n] for start, end in spans
                  for i in range(max(start, end - n + 1), min(end, size - n + 1))]
    return names
