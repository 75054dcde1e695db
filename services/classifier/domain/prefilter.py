"""Which lexicon patterns can match a text at all, from the literal text they require.

Most of the lexicon's ~500 patterns find nothing in a given text, and a regular
expression with look-arounds and alternations costs a scan of the text to say so.
Every pattern here requires some literal text: "금융\\s*감독\\s*원" cannot match
without "금융", "감독" and "원", "(?:이|그|저)\\s*새끼" not without "새끼". Finding which of
the ~1,500 short literals occur takes one pass of an Aho-Corasick automaton (pyahocorasick,
in C) over the text, much cheaper than running the patterns, and only the patterns whose
every requirement is present are run. (Checking only the most
selective one let "(?:하|넣|내)지\\s*않" through for most texts: 하 is everywhere.)
The rules' results do not change: a pattern is
skipped only when no match is possible (tests/unit/test_prefilter.py checks this
against the whole corpus).

Pure: derived from the compiled patterns (their parse tree), nothing else.
"""

from __future__ import annotations

import re
import re._constants as C  # the parse tree's opcodes (stable since 3.11)
import re._parser as P
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import ahocorasick

# a character class of at most this many plain letters ("[렸림려린]") counts as alternatives
_CLASS_ALTERNATIVES = 4
# how many pattern groups a prefilter keeps the masks of (the lexicon has ~100)
_KEPT_GROUPS = 4096
T = TypeVar("T")

Needs = frozenset[str] | None  # one of these strings occurs in every match; None: nothing known

# IGNORECASE also matches i to the Turkish dotless ı and dotted İ, which casefold() keeps apart
_FOLD_MORE = str.maketrans({"ı": "i", "İ": "i"})


def fold(text: str) -> str:
    """Case-folded as the regex engine's IGNORECASE compares letters (or more loosely)."""
    if "ı" in text or "İ" in text:  # rare; translate() costs more than casefold() itself
        text = text.translate(_FOLD_MORE)
    return text.casefold()


def required(pattern: re.Pattern) -> Needs:
    """Strings, one of which every match of `pattern` contains (lower-cased and without
    whitespace, to be tested against the case-folded text without spaces); None if the
    pattern requires no literal text. The most selective of `requirements(pattern)`."""
    needs = requirements(pattern)
    return needs[0] if needs else None


def requirements(pattern: re.Pattern) -> tuple[frozenset[str], ...]:
    """Every requirement a match of `pattern` must meet, the most selective first: each is a
    set of strings one of which the match contains. "(?:하|넣|내)지\\s*않" needs one of
    하, 넣, 내 and also 지 and 않; a text without 않 cannot match it. Empty: nothing known."""
    try:
        clauses = _clauses(P.parse(pattern.pattern, pattern.flags))
    except (re.error, RecursionError, ValueError):
        return ()
    kept = dict.fromkeys(frozenset(fold(s) for s in c) for c in clauses  # in order, once each
                         if c and not any(not s or any(ch.isspace() for ch in s) for s in c))
    # stable: of the requirements whose shortest string is longest, the first in the pattern
    return tuple(sorted(kept, key=lambda c: -min(map(len, c))))


def _best(clauses: list[set[str]]) -> set[str] | None:
    """The most selective requirement, as `requirements` orders them."""
    best: set[str] | None = None
    for c in clauses:
        if c and (best is None or min(map(len, c)) > min(map(len, best))):
            best = c
    return best


def _clauses(items) -> list[set[str]]:
    """The requirements of a sequence of parse items: every item of a sequence is required,
    so each literal run and each required part adds its own."""
    out: list[set[str]] = []
    run: list[str] = []
    for op, av in items:
        if op is C.LITERAL and not chr(av).isspace():
            run.append(chr(av))
            continue
        if run:
            out.append({"".join(run)})
            run = []
        if op is C.SUBPATTERN:
            out += _clauses(av[-1])
        elif op is C.BRANCH:
            alts = [_best(_clauses(a)) for a in av[1]]
            if all(alts):
                out.append(set().union(*alts))  # type: ignore[arg-type]
        elif op is C.ATOMIC_GROUP:
            out += _clauses(av)
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            if av[0] >= 1:
                out += _clauses(av[2])
        elif op is C.IN:
            chars = [chr(a) for o, a in av if o is C.LITERAL]
            if len(chars) == len(av) and len(chars) <= _CLASS_ALTERNATIVES:
                out.append(set(chars))
        # anything else (assertions, any character, ranges, back references, conditionals)
        # requires nothing and ends the run of literals
    if run:
        out.append({"".join(run)})
    return out


class Prefilter:
    """The literals a set of patterns requires, and which of the patterns a text can match."""

    def __init__(self, patterns: Iterable[re.Pattern]) -> None:
        # every pattern object counts, by identity: two equal patterns in different groups may be
        # two objects (re's compile cache is bounded), and each must be found possible
        objects = list({id(p): p for p in patterns}.values())
        self.needs: dict[re.Pattern, tuple[frozenset[str], ...]] = {}
        for p in objects:
            if p not in self.needs:
                self.needs[p] = requirements(p)
        self.literals: tuple[str, ...] = tuple(sorted({s for n in self.needs.values() for c in n for s in c}))
        # one-letter literals (이, 다, 안: ~30 of a text's ~50 hits) are a set the text's letters meet
        # in C; the longer ones go in an Aho-Corasick automaton (built below, with their masks)
        self._letters = frozenset(s for s in self.literals if len(s) == 1)
        self._patterns = {id(p): p for p in objects}
        # by identity: hashing a compiled pattern hashes its code
        self._always = frozenset(id(p) for p in objects if not self.needs[p])
        # indexed by the most selective requirement; the others are checked for those it lets through
        by_literal: dict[str, set[int]] = {}
        for p in objects:
            for s in (self.needs[p][0] if self.needs[p] else ()):
                by_literal.setdefault(s, set()).add(id(p))
        self._by_literal = {s: frozenset(ids) for s, ids in by_literal.items()}
        # each further requirement numbered once; a text meets those with a literal it contains
        numbered: dict[frozenset[str], int] = {}
        self._more = {id(p): frozenset(numbered.setdefault(c, len(numbered)) for c in self.needs[p][1:])
                      for p in objects if len(self.needs[p]) > 1}
        self._with_more = frozenset(self._more)
        met_by: dict[str, set[int]] = {}
        for c, n in numbered.items():
            for s in c:
                met_by.setdefault(s, set()).add(n)
        self._met_by = {s: frozenset(ns) for s, ns in met_by.items()}
        # the same sets as bit masks (a bit per pattern, a bit per further requirement), which is
        # what `Text` uses: a text's possible patterns are a few ORs, a group's check one AND
        self._bit = {id(p): 1 << k for k, p in enumerate(objects)}
        first = {s: 0 for s in self.literals}
        for s, ids in self._by_literal.items():
            for i in ids:
                first[s] |= self._bit[i]
        met = {s: 0 for s in self.literals}
        for s, ns in self._met_by.items():
            for n in ns:
                met[s] |= 1 << n
        self._literal_bits = {s: (first[s], met[s]) for s in self.literals}
        self._always_mask = sum(self._bit[i] for i in self._always)
        self._more_mask = sum(self._bit[i] for i in self._more)
        needs_more = [0] * len(objects)  # by pattern number (a list: hashing a long int costs more)
        for k, p in enumerate(objects):
            if id(p) in self._more:
                needs_more[k] = sum(1 << n for n in self._more[id(p)])
        self._needs_more = needs_more
        # every literal of two letters or more, with its two masks: one pass over the text finds all
        # that occur (`present`) or the patterns they make possible (`mask`), without a set between;
        # the patterns themselves took ~100 µs a text
        self._automaton = ahocorasick.Automaton()
        for s, (f, m) in self._literal_bits.items():
            if len(s) > 1:
                self._automaton.add_word(s, (s, f, m))
        self._automaton.make_automaton()
        self._groups: dict[int, tuple[tuple[re.Pattern, ...], int, tuple[tuple[int, re.Pattern], ...]]] = {}
        self._plans: dict[int, tuple[object, object]] = {}

    def present(self, compact: str) -> frozenset[str]:
        """The literals that occur in a text (given without whitespace)."""
        text = fold(compact)
        letters = self._letters.intersection(text)
        if len(self._automaton) == 0:  # an automaton without words cannot search
            return letters
        return letters.union([hit[0] for _, hit in self._automaton.iter(text)])

    def possible_patterns(self, present: frozenset[str]) -> list[re.Pattern]:
        """The patterns a text with these literals can match."""
        return [self._patterns[i] for i in self.possible_ids(present)]

    def possible(self, pattern: re.Pattern, present: frozenset[str]) -> bool:
        return not any(c.isdisjoint(present) for c in self.needs.get(pattern, ()))

    def possible_ids(self, present: frozenset[str]) -> frozenset[int]:
        """The `id()`s of the patterns a text with these literals can match (the patterns are
        the lexicon's, which lives as long as its prefilter)."""
        by_literal, met_by, more = self._by_literal, self._met_by, self._more
        found = self._always.union(*(by_literal[s] for s in present if s in by_literal))
        check = self._with_more.intersection(found)
        if not check:
            return found
        met = frozenset().union(*(met_by[s] for s in present if s in met_by))
        return found.difference([i for i in check if not more[i] <= met])

    def possible_mask(self, present: frozenset[str]) -> int:
        """`possible_ids` as a bit mask: bit k set when the k-th pattern is possible (see `group`)."""
        bits = self._literal_bits
        found, met = self._always_mask, 0
        for s in present:
            f, m = bits[s]
            found |= f
            met |= m
        return self._unmet_dropped(found, met)

    def mask(self, compact: str) -> int:
        """`possible_mask(present(compact))` in one pass over the text (this runs for every text:
        ~50 literal hits each)."""
        found, met = self._always_mask, 0
        text = fold(compact)
        bits = self._literal_bits
        for s in self._letters.intersection(text):
            f, m = bits[s]
            found |= f
            met |= m
        if len(self._automaton):  # an automaton without words cannot search
            for _, (_, f, m) in self._automaton.iter(text):
                found |= f
                met |= m
        return self._unmet_dropped(found, met)

    def _unmet_dropped(self, found: int, met: int) -> int:
        check = found & self._more_mask
        needs, unmet = self._needs_more, ~met
        while check:
            k = check.bit_length() - 1  # the highest pattern still to check
            check ^= 1 << k
            if needs[k] & unmet:  # a further requirement without any of its literals in the text
                found ^= 1 << k
        return found

    def plan(self, rules: object, build: Callable[[Prefilter], T]) -> T:
        """`build(self)`, worked out once per `rules` object (a lexicon's rule table, which lives as
        long as the lexicon and its prefilter do): how the rules module walks that table."""
        entry = self._plans.get(id(rules))
        if entry is not None and entry[0] is rules:
            return entry[1]  # type: ignore[return-value]
        value = build(self)
        if len(self._plans) < _KEPT_GROUPS:
            self._plans[id(rules)] = (rules, value)  # holding it keeps its id from reuse
        return value

    def group(self, patterns: Sequence[re.Pattern]) -> tuple[int, tuple[tuple[int, re.Pattern], ...]]:
        """A group's mask (the OR of its patterns' bits; a pattern this prefilter was not built
        from has none, and is never possible) and each pattern with its bit, in order. Kept
        per group object: the lexicon's groups live as long as it does."""
        entry = self._groups.get(id(patterns))
        if entry is not None and entry[0] is patterns:
            return entry[1], entry[2]
        bit = self._bit
        members = tuple((bit.get(id(p), 0), p) for p in patterns)
        mask = 0
        for b, _ in members:
            mask |= b
        # a caller's short-lived groups are not kept without bound; a list could change
        if type(patterns) is tuple and len(self._groups) < _KEPT_GROUPS:
            self._groups[id(patterns)] = (patterns, mask, members)  # holding it keeps its id from reuse
        return mask, members
