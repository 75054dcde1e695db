"""Which lexicon patterns can match a text at all, from the literal text they require.

Most of the lexicon's ~500 patterns find nothing in a given text, and a regular
expression with look-arounds and alternations costs a scan of the text to say so.
Every pattern here requires some literal text: "금융\\s*감독\\s*원" cannot match
without "금융", "(?:이|그|저)\\s*새끼" not without "새끼". Testing a few hundred short
literals with `in` is much cheaper than running the patterns, and only the patterns
whose literal is present are run. The rules' results do not change: a pattern is
skipped only when no match is possible (tests/unit/test_prefilter.py checks this
against the whole corpus).

Pure: derived from the compiled patterns (their parse tree), nothing else.
"""

from __future__ import annotations

import re
import re._constants as C  # the parse tree's opcodes (stable since 3.11)
import re._parser as P
from collections.abc import Iterable

# a character class of at most this many plain letters ("[렸림려린]") counts as alternatives
_CLASS_ALTERNATIVES = 4

Needs = frozenset[str] | None  # one of these strings occurs in every match; None: nothing known

# IGNORECASE also matches i to the Turkish dotless ı and dotted İ, which casefold() keeps apart
_FOLD_MORE = str.maketrans({"ı": "i", "İ": "i"})


def fold(text: str) -> str:
    """Case-folded as the regex engine's IGNORECASE compares letters (or more loosely)."""
    return text.translate(_FOLD_MORE).casefold()


def required(pattern: re.Pattern) -> Needs:
    """Strings, one of which every match of `pattern` contains (lower-cased and without
    whitespace, to be tested against the case-folded text without spaces); None if the
    pattern requires no literal text."""
    try:
        needs = _sequence(P.parse(pattern.pattern, pattern.flags))
    except (re.error, RecursionError, ValueError):
        return None
    if needs is None or any(not s or any(ch.isspace() for ch in s) for s in needs):
        return None
    return frozenset(fold(s) for s in needs)


def _sequence(items) -> set[str] | None:
    """The best requirement of a sequence of parse items: every item of a sequence is
    required, so any one of them (or a run of literals) will do; the one whose shortest
    alternative is longest is the most selective."""
    best: set[str] | None = None
    run: list[str] = []

    def consider(cands: set[str] | None) -> None:
        nonlocal best
        if cands and (best is None or min(map(len, cands)) > min(map(len, best))):
            best = cands

    for op, av in items:
        if op is C.LITERAL and not chr(av).isspace():
            run.append(chr(av))
            continue
        if run:
            consider({"".join(run)})
            run = []
        if op is C.SUBPATTERN:
            consider(_sequence(av[-1]))
        elif op is C.BRANCH:
            alts = [_sequence(a) for a in av[1]]
            if all(alts):
                consider(set().union(*alts))  # type: ignore[arg-type]
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT, C.ATOMIC_GROUP):
            if op is C.ATOMIC_GROUP:
                consider(_sequence(av))
            elif av[0] >= 1:
                consider(_sequence(av[2]))
        elif op is C.IN:
            chars = [chr(a) for o, a in av if o is C.LITERAL]
            if len(chars) == len(av) and len(chars) <= _CLASS_ALTERNATIVES:
                consider(set(chars))
        # anything else (assertions, any character, ranges, back references, conditionals)
        # requires nothing and ends the run of literals
    if run:
        consider({"".join(run)})
    return best


class Prefilter:
    """The literals a set of patterns requires, and which of the patterns a text can match."""

    def __init__(self, patterns: Iterable[re.Pattern]) -> None:
        # every pattern object counts, by identity: two equal patterns in different groups may be
        # two objects (re's compile cache is bounded), and each must be found possible
        objects = list({id(p): p for p in patterns}.values())
        self.needs: dict[re.Pattern, Needs] = {}
        for p in objects:
            if p not in self.needs:
                self.needs[p] = required(p)
        self.literals: tuple[str, ...] = tuple(sorted({s for n in self.needs.values() if n for s in n}))
        # one-letter literals, and the longer ones by their first two letters
        self._letters = frozenset(s for s in self.literals if len(s) == 1)
        by_pair: dict[str, list[str]] = {}
        for s in self.literals:
            if len(s) > 1:
                by_pair.setdefault(s[:2], []).append(s)
        self._by_pair = {pair: tuple(ss) for pair, ss in by_pair.items()}
        self._pairs = frozenset(by_pair)
        # by identity: hashing a compiled pattern hashes its code
        self._always = frozenset(id(p) for p in objects if self.needs[p] is None)
        by_literal: dict[str, set[int]] = {}
        for p in objects:
            for s in self.needs[p] or ():
                by_literal.setdefault(s, set()).add(id(p))
        self._by_literal = {s: frozenset(ids) for s, ids in by_literal.items()}

    def present(self, compact: str) -> frozenset[str]:
        """The literals that occur in a text (given without whitespace): only those starting
        with one of the text's pairs of letters are looked for."""
        folded = fold(compact)
        by_pair = self._by_pair
        pairs = self._pairs.intersection([folded[i:i + 2] for i in range(len(folded) - 1)])
        return self._letters.intersection(folded).union(
            s for pair in pairs for s in by_pair[pair] if len(s) == 2 or s in folded)

    def possible(self, pattern: re.Pattern, present: frozenset[str]) -> bool:
        needs = self.needs.get(pattern)
        return needs is None or not needs.isdisjoint(present)

    def possible_ids(self, present: frozenset[str]) -> frozenset[int]:
        """The `id()`s of the patterns a text with these literals can match (the patterns are
        the lexicon's, which lives as long as its prefilter)."""
        by_literal = self._by_literal
        return self._always.union(*(by_literal[s] for s in present))
