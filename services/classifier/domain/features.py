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

Morph = tuple[str, str]  # (form, Kiwi tag)

# tags that say what the text is about or how it is said
CONTENT = {"NNG", "NNP", "NNB", "NR", "NP", "VV", "VA", "VX", "VCN", "XR", "MAG", "MAJ", "MM", "IC", "SL", "SH", "SW",
           "XSV", "XSA", "XPN", "EF", "EC", "EP"}
# endings and particles alone are noise; in a bigram with their stem they mark
# requests (-어 주세요), wishes (-면 좋겠다) and questions (-나요)
BIGRAM_TAGS = CONTENT | {"ETM", "ETN", "JX", "JKB"}
LEMMA_TAGS = {"NNG", "NNP", "VV", "VA", "XR", "SL", "MAG"}


def _tag(tag: str) -> str:
    return tag.split("-", 1)[0]  # VV-I / VV-R (irregular conjugation) -> VV


def features(morphs: Sequence[Morph], normalised: str, char_ngrams: tuple[int, ...] = (2, 3)) -> Counter[str]:
    kept = [(form, t) for form, tag in morphs if (t := _tag(tag)) in BIGRAM_TAGS]
    names = [f"m:{form}/{tag}" for form, tag in kept if tag in CONTENT]
    names += [f"l:{form}" for form, tag in kept if tag in LEMMA_TAGS]
    names += [f"b:{f1}_{f2}" for (f1, _), (f2, _) in zip(kept, kept[1:])]
    compact = normalised.replace(" ", "")
    for n in char_ngrams:
        names += ["c:" + compact[i:i + n] for i in range(len(compact) - n + 1)]
    return Counter(names)  # counted in C
