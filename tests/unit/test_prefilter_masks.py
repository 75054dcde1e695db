"""The prefilter's bit masks (what `Text` uses) say exactly what its sets of pattern ids say."""

from __future__ import annotations

import json
import re
from pathlib import Path

from services.classifier.domain.lexicon import load_lexicon
from services.classifier.domain.prefilter import Prefilter
from services.classifier.domain.rules import Text

CORPUS = Path(__file__).resolve().parents[2] / "services" / "classifier" / "corpus"


def rx(p: str) -> re.Pattern:
    return re.compile(p, re.IGNORECASE)


def _texts() -> list[str]:
    files = [CORPUS / "train.jsonl", CORPUS / "test.jsonl", *sorted((CORPUS / "external").glob("*.jsonl"))]
    return [json.loads(line)["text"] for f in files for line in f.read_text(encoding="utf-8").splitlines()]


def test_the_mask_of_possible_patterns_is_the_set_of_their_ids():
    lex = load_lexicon()
    pf = lex.prefilter
    patterns = lex.patterns()
    for text in [*_texts()[::3], "", "민원 하지 않을게요", "ㅅ ㅐ ㄲ ㅣ"]:
        t = Text(text, pf)
        present = t.present
        ids, mask = pf.possible_ids(present), pf.possible_mask(present)
        assert {id(p) for p in patterns if pf.group((p,))[0] & mask} == ids, text
        assert t.possible == mask, text  # one pass over the text (`Prefilter.mask`) finds the same


def test_a_group_is_searched_only_with_its_possible_patterns_in_order():
    a, b, c = rx("금감원"), rx("민원"), rx("언론")
    f = Prefilter([a, b, c])
    t = Text("금감원에 민원 넣을게요", f)
    group = (c, b, a)
    assert t.could_match(group) and not t.could_match((c,))
    assert [s.start for s in t.find(group)] == [5, 0]  # 민원 first: the group's order
    assert f.group(group)[1] == tuple((f.group((p,))[0], p) for p in group)


def test_a_pattern_the_prefilter_was_not_built_from_is_never_possible():
    a = rx("금감원")
    f = Prefilter([a])
    t = Text("금감원", f)
    stranger = re.compile("금감원", re.IGNORECASE | re.UNICODE)  # another object, as before by identity
    assert not t.could_match((stranger,)) and not list(t.find((stranger,)))
    assert list(t.find((a,)))


def test_groups_given_as_lists_or_made_per_call_are_not_kept():
    a = rx("금감원")
    f = Prefilter([a])
    t = Text("금감원", f)
    assert list(t.find([a])) and f._groups == {}  # noqa: SLF001 - a list may change: not kept
    for _ in range(3):
        assert list(t.find(tuple([a])))
    assert len(f._groups) <= 3  # noqa: SLF001
