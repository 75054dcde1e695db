"""The lexicon prefilter skips a pattern only when it cannot match."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from services.classifier.domain.lexicon import load_lexicon
from services.classifier.domain.prefilter import Prefilter, fold, required, requirements
from services.classifier.domain.rules import Text, find_flags, find_urgency_rules, model_critical

CORPUS = Path(__file__).resolve().parents[2] / "services" / "classifier" / "corpus"


def rx(p: str) -> re.Pattern:
    return re.compile(p, re.IGNORECASE)


@pytest.mark.parametrize("pattern, needs", [
    (r"(?:이|그|저)\s*새끼", {"새끼"}),
    (r"금융\s*감독\s*원", {"금융"}),                 # the first of the longest runs
    (r"올[렸릴림려]", {"올"}),
    (r"[렸릴림려]다", {"렸", "릴", "림", "려"}),        # a small class is alternatives
    (r"(?<![a-z])FSS(?![a-z])", {"fss"}),            # case-folded, like the text it is tested on
    (r"(?:민원을?\s*넣|신고)", {"민원", "신고"}),       # each branch needs its own literal
    (r"(?:abc)?d", {"d"}),                           # optional parts require nothing
    (r"가만 두지", {"가만"}),                          # a literal space ends a run
    (r"(?:금감원)+|x", {"금감원", "x"}),            # a repeated part is required once
])
def test_the_literal_a_pattern_requires(pattern, needs):
    assert required(rx(pattern)) == frozenset(needs)


def test_every_requirement_of_a_sequence_is_kept_the_most_selective_first():
    assert requirements(rx(r"(?:하|넣|내)지\s*않")) == (frozenset("하넣내"), frozenset("지"), frozenset("않"))
    assert requirements(rx(r"금융\s*감독\s*원")) == (frozenset({"금융"}), frozenset({"감독"}), frozenset("원"))
    assert requirements(rx(r"(?:abc)?d[렸릴]+")) == (frozenset("d"), frozenset("렸릴"))  # optional: nothing
    assert requirements(rx(r"\d+")) == ()


def test_a_pattern_is_possible_only_when_every_requirement_is_met():
    p, q = rx(r"(?:하|넣|내)지\s*않"), rx(r"하지")
    f = Prefilter([p, q])
    for text, p_possible in [("민원 하지 않을게요", True), ("민원 하지 마세요", False), ("않지 내", True)]:
        present = Text(text, f).present
        assert f.possible(p, present) is p_possible, text
        assert (id(p) in f.possible_ids(present)) is p_possible, text
        assert f.possible(q, present) is ("하지" in text)


@pytest.mark.parametrize("pattern", [r"\d+", r"[^가-힣]{3}", r"(?:a|)b?", r"(.)\1", r"[가-힣]{2}"])
def test_a_pattern_that_requires_no_literal_is_always_run(pattern):
    p = rx(pattern)
    assert required(p) is None
    assert Prefilter([p]).possible(p, frozenset())


def test_a_text_is_searched_only_with_the_patterns_it_can_match():
    a, b = rx(r"금감원\S{0,4}\s*(?:민원|신고)"), rx(r"언론|기자")
    f = Prefilter([a, b])
    present = f.present("".join("어제 금감원 에 민원 넣었어요".split()))
    assert f.possible(a, present) and not f.possible(b, present)
    assert f.possible(a, f.present("FSS금감원에민원".casefold()))


def _texts() -> list[str]:
    files = [CORPUS / "train.jsonl", CORPUS / "test.jsonl", *sorted((CORPUS / "external").glob("*.jsonl"))]
    return [json.loads(line)["text"] for f in files for line in f.read_text(encoding="utf-8").splitlines()]


def test_present_is_exactly_the_literals_the_folded_text_contains():
    pf = load_lexicon().prefilter
    assert any(len(s) == 1 for s in pf.literals) and any(len(s) > 2 for s in pf.literals)
    for text in [*_texts()[::5], "", "금", "ㅅ ㅂ", "FSS 금 감 원 민원!!"]:
        compact = "".join(text.split())
        assert pf.present(compact) == {s for s in pf.literals if s in fold(compact)}, text


def test_every_pattern_that_matches_a_corpus_text_is_possible_for_it():
    lex = load_lexicon()
    pf = lex.prefilter
    for text in _texts()[::10]:
        t = Text(text, pf)
        for p in lex.patterns():
            if p.search(t.raw) or p.search(t.compact):
                assert pf.possible(p, t.present), (p.pattern, text)


def test_the_rules_decide_the_same_with_and_without_the_prefilter():
    lex = load_lexicon()

    def decide(t: Text):
        return (find_flags(t, lex), find_urgency_rules(t, lex.urgency.critical),
                find_urgency_rules(t, lex.urgency.high), model_critical(t, lex), t.count(lex.emotion.anger))

    texts = _texts()
    assert len(texts) > 4000
    assert [decide(Text(s)) for s in texts] == [decide(Text(s, lex.prefilter)) for s in texts]


def test_equal_patterns_that_are_distinct_objects_are_each_run():
    """re's compile cache is bounded: the same pattern in two groups can be two objects."""
    first, second = rx("언론"), re.compile("언론", re.IGNORECASE | re.UNICODE)  # another cache key
    assert first == second and first is not second
    f = Prefilter([first, second])
    t = Text("언론에 알릴게요", f)
    assert list(t.find((second,))) and list(t.find((first,)))


@pytest.mark.parametrize("text", ["İNSTAGRAM에 올릴게요", "ınstagram에 올릴게요", "Instagram에 올릴게요"])
def test_case_folding_is_at_least_as_loose_as_the_regex_engines(text):
    p = rx("instagram")
    assert p.search(text)
    f = Prefilter([p])
    assert f.possible(p, Text(text, f).present)


def test_a_window_on_the_composed_form_takes_only_syllables_inside_it():
    t = Text("ㄱ ㅏ ㅅ ㅂ")   # composed: "갓ㅂ"; the window before ㅅ must not reach into it
    assert t.composed == "갓ㅂ"
    assert not list(t.find((rx("갓"),), 0, 4))  # "ㄱ ㅏ" only: 갓 needs the ㅅ at 4
    assert list(t.find((rx("갓"),), 0, 5))
