"""Classifier speed and memory, in-process, pinned to one CPU core.

1. Batch classification (model + rules, the service's code path) over the corpus's
   realistic texts, in batches of 100. The classifier's word cache (each word's analysis and
   features, see domain/wordindex.py) is emptied before
   every pass over the corpus, so a pass gains only from the words its own texts
   repeat (never from having seen the same texts before); the warm figure, cache kept,
   is printed after it. Baseline, same run: Kiwi tokenisation alone of the same whole
   texts, the way Kiwi is called without a word cache.
2. Live screening of call segments (screen_segment, what runs per STT segment).
   Segments are cut from the corpus's phone transcripts, so ~all are Korean speech and
   a realistic few carry watch words. Baseline, same run: one bare `re.search` for
   "금감원" per segment — the least any screening can cost.
3. Memory: the process's RSS after loading and after the runs.

    .venv/bin/python -m bench.classify_speed [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import re
import time

from bench.common import pin_to_one_core
from services.classifier.training.corpus import CORPUS_DIR, read_jsonl


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def rate(fn, items, seconds: float, chunk: int, before_pass=lambda: None) -> float:
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        before_pass()
        for i in range(0, len(items), chunk):
            fn(items[i:i + chunk])
            done += len(items[i:i + chunk])
    return done / (time.perf_counter() - started)


def one_pass(clf, items) -> None:
    for i in range(0, len(items), 100):  # the service's batch size
        clf.classify_batch(items[i:i + 100])


def seen_then_unseen(clf, seen: list, unseen: list, seconds: float) -> tuple[float, float]:
    """Texts/s on the held-out texts, each pass after emptying the cache and filling it from the
    training texts (untimed): the cache knows the vocabulary of other texts, never these."""
    tok, done, spent = clf.words, 0, 0.0
    while spent < seconds:
        tok.clear_cache()
        one_pass(clf, seen)
        before = tok.cache_info()
        started = time.perf_counter()
        one_pass(clf, unseen)
        spent += time.perf_counter() - started
        done += len(unseen)
        after = tok.cache_info()
    hits, misses = after.hits - before.hits, after.misses - before.misses
    return done / spent, hits / (hits + misses)


def segments(texts: list[str]) -> list[str]:
    out = []
    for t in texts:
        words = t.split()
        out += [" ".join(words[i:i + 6]) for i in range(0, len(words), 6)]
    return [s for s in out if s]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    a = ap.parse_args()
    print(pin_to_one_core())
    base = rss_mb()
    from services.classifier.adapters.loader import build_classifier
    from services.classifier.domain.alerts import CONTEXT_CHARS, carries, screen_segment
    from services.classifier.domain.classify import Item

    started = time.perf_counter()
    clf = build_classifier()
    print(f"load: {time.perf_counter() - started:.2f} s, RSS {base:.0f} MB -> {rss_mb():.0f} MB, model {clf.version}")
    train, test = read_jsonl(CORPUS_DIR / "train.jsonl"), read_jsonl(CORPUS_DIR / "test.jsonl")
    examples = train + test
    texts = [e.text for e in examples]
    items = [Item(t) for t in texts]
    print(f"{len(texts)} texts, mean {sum(map(len, texts)) / len(texts):.0f} characters")

    tok = clf.words
    ours = rate(clf.classify_batch, items, a.seconds, 100, before_pass=tok.clear_cache)
    tok.clear_cache()
    one_pass(clf, items)
    info = tok.cache_info()
    unseen, unseen_hits = seen_then_unseen(clf, items[:len(train)], items[len(train):], a.seconds)
    warm = rate(clf.classify_batch, items, a.seconds, 100)
    kiwi = clf.tokenizer._kiwi  # noqa: SLF001 - the baseline is Kiwi itself
    floor = rate(lambda batch: [kiwi.tokenize(t, normalize_coda=True) for t in batch], texts, a.seconds, 100)
    print(f"batch classification: {ours:,.0f} texts/s (word cache emptied every pass; one pass: "
          f"{info.hits / (info.hits + info.misses):.0%} of {info.hits + info.misses:,} words hit, "
          f"{info.currsize:,} cached)   baseline Kiwi tokenize only, whole texts: {floor:,.0f} texts/s   "
          f"ours/baseline {ours / floor:.2f}   (target >= 2,000 texts/s)")
    print(f"  the {len(test):,} held-out texts, cache filled by the {len(train):,} training texts first (untimed): "
          f"{unseen:,.0f} texts/s, {unseen_hits:.0%} of their words hit")
    print(f"  warm word cache (steady state over the same texts): {warm:,.0f} texts/s   RSS {rss_mb():.0f} MB")

    segs = segments([e.text for e in examples if e.style == "stt"])
    lex = clf.lexicon()
    hits = sum(1 for s in segs if screen_segment(s, lex) != screen_segment("", lex))
    alone = rate(lambda batch: [screen_segment(s, lex) for s in batch], segs, a.seconds, 1000)
    # as the service screens a turn: with the end of the call's previous customer turn (here, the previous segment)
    def with_before(batch):  # the service's per-turn work: screen, then keep the turn's end if it carries
        out = [screen_segment(s, lex, before) for s, before in batch]
        [carries(s[-CONTEXT_CHARS:], lex) for s, _ in batch]
        return out
    paired = [(s, segs[i - 1][-CONTEXT_CHARS:] if i and carries(segs[i - 1][-CONTEXT_CHARS:], lex) else "")
              for i, s in enumerate(segs)]
    ours = rate(with_before, paired, a.seconds, 1000)
    word = re.compile("금감원")
    floor = rate(lambda batch: [word.search(s) for s in batch], segs, a.seconds, 1000)
    print(f"live screening: {ours:,.0f} segments/s with the previous turn's end, {alone:,.0f} each alone "
          f"({len(segs)} segments, {hits / len(segs):.1%} with a hit)   "
          f"baseline one re.search: {floor:,.0f}/s   (target >= 20,000 segments/s)")
    print(f"RSS after the runs: {rss_mb():.0f} MB   (target <= 500 MB for the classifier process)")


if __name__ == "__main__":
    main()
