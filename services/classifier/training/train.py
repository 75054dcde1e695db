"""`moksori classify train`: fits the model heads on the corpus's train split (and,
when asked, the corrections affiliate teams made) and writes a versioned model file.

Offline code: scikit-learn is used here only; the service runs the written arrays
with numpy (domain/model.py)."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone

import numpy as np

from services.classifier.domain.classify import Tokenizer
from services.classifier.domain.lexicon import Lexicon
from services.classifier.domain.rules import Text, find_urgency_rules, model_critical
from services.classifier.domain.features import features
from services.classifier.domain.model import HEADS, Head, LinearModel, tfidf
from services.classifier.domain.normalise import normalise
from services.classifier.training.corpus import Example, corpus_digest

MIN_DF = 2
C_GRID = (5.0, 20.0, 50.0)
# which feature groups each head reads (features.py), chosen by 5-fold cross-validation on the
# train split: what a text is about decides topic and affiliate; how it is said, kind and sentiment
VIEWS = {"topic": "l", "affiliate": "l", "kind": "mbc", "sentiment": "mbc", "urgency": "lmbc"}
# The urgency head backs up the critical rules: a text the rules miss is critical when the head's
# P(critical) reaches this threshold (and a critical anchor word gives the evidence, classify.py).
# Chosen by 5-fold cross-validation on the train split: the lowest that keeps the model's own
# critical calls this precise.
CRITICAL_PRECISION = 0.85
THRESHOLD_GRID = tuple(round(0.15 + 0.05 * i, 2) for i in range(16))  # 0.15 .. 0.90


def featurise(tokenizer: Tokenizer, texts: Sequence[str]) -> list[Counter[str]]:
    out = []
    for text in texts:
        norm = normalise(text)
        out.append(features(tokenizer.morphs(norm), norm))
    return out


def _matrix(feats: list[Counter[str]], vocab: dict[str, int], idf: np.ndarray, groups: str):
    from scipy.sparse import csr_matrix

    rows, cols, vals = [], [], []
    for r, fc in enumerate(feats):
        ix, v = tfidf(fc, vocab, idf, groups)
        rows.append(np.full(len(ix), r))
        cols.append(ix)
        vals.append(v)
    return csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(len(feats), len(vocab)), dtype=np.float64)


def _fit(X, y: list[str], c: float):
    return _fit_factory(c).fit(X, y)


def choose_c(X, y: list[str], log=print) -> float:
    """5-fold cross-validated macro-F1 on the training split picks the regularisation."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    best, best_f1 = C_GRID[0], -1.0
    folds = StratifiedKFold(5, shuffle=True, random_state=7)
    for c in C_GRID:
        scores = []
        for tr, te in folds.split(X, y):
            clf = _fit(X[tr], [y[i] for i in tr], c)
            scores.append(f1_score([y[i] for i in te], clf.predict(X[te]), average="macro"))
        f1 = float(np.mean(scores))
        log(f"  C={c:<5} cross-validated topic macro-F1 {f1:.3f}")
        if f1 > best_f1:
            best, best_f1 = c, f1
    return best


def choose_critical_threshold(X, y: list[str], texts: Sequence[str], kinds: Sequence[str], lexicon: Lexicon,
                              c: float, log=print) -> float:
    """The lowest P(critical) at which the urgency head's own calls are CRITICAL_PRECISION precise,
    measured where it acts: texts no critical rule matched, that have an unguarded anchor word and
    are not praise or suggestions. Probabilities are 5-fold cross-validated."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    proba = cross_val_predict(_fit_factory(c), X, y, cv=StratifiedKFold(5, shuffle=True, random_state=7),
                              method="predict_proba")
    col = sorted(set(y)).index("critical")
    def head_acts(text: str, kind: str) -> bool:
        t = Text(text)
        return (kind not in ("praise", "suggestion") and not find_urgency_rules(t, lexicon.urgency.critical)
                and bool(model_critical(t, lexicon)))

    acts = np.array([head_acts(t, kind) for t, kind in zip(texts, kinds)])
    gold = np.array([v == "critical" for v in y])
    log(f"  the urgency head decides {int(acts.sum())} training texts ({int((acts & gold).sum())} of them critical)")
    for t in THRESHOLD_GRID:
        called = acts & (proba[:, col] >= t)
        if called.sum() < 3:
            break
        precision = float((called & gold).sum() / called.sum())
        if precision >= CRITICAL_PRECISION:
            log(f"  critical threshold {t}: cross-validated precision {precision:.3f} on those, "
                f"{int((called & gold).sum())} of their {int((acts & gold).sum())} critical texts found")
            return t
    log("  no threshold reaches the precision: the urgency head never calls critical alone")
    return 1.01


def _fit_factory(c: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=5000, class_weight="balanced")


def train(examples: Sequence[Example], tokenizer: Tokenizer, lexicon: Lexicon, *, c: float | None = None,
          log=print) -> LinearModel:
    started = time.perf_counter()
    feats = featurise(tokenizer, [e.text for e in examples])
    df: Counter[str] = Counter()
    for fc in feats:
        df.update(fc.keys())
    names = sorted(f for f, n in df.items() if n >= MIN_DF)
    vocab = {f: i for i, f in enumerate(names)}
    n = len(examples)
    idf = np.array([math.log((1 + n) / (1 + df[f])) + 1.0 for f in names], np.float32)
    X = {g: _matrix(feats, vocab, idf, g) for g in set(VIEWS.values())}
    log(f"{n} examples, {len(names)} features (document frequency >= {MIN_DF})")
    labels = {h: [getattr(e, h) for e in examples] for h in HEADS}
    c = c or choose_c(X[VIEWS["topic"]], labels["topic"], log)
    heads = {}
    for h in HEADS:
        clf = _fit(X[VIEWS[h]], labels[h], c)
        if len(clf.classes_) < 3:  # scikit-learn gives two classes a single score column
            raise ValueError(f"{h}: the training data has only {list(clf.classes_)}; every label is needed")
        heads[h] = Head(tuple(clf.classes_), clf.intercept_.astype(np.float32), clf.coef_.T.astype(np.float32),
                        VIEWS[h])
    threshold = choose_critical_threshold(X[VIEWS["urgency"]], labels["urgency"], [e.text for e in examples],
                                          labels["kind"], lexicon, c, log)
    version = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M") + "-" + corpus_digest(examples)[:8]
    meta = {"trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "examples": n,
            "corpus_sha256_12": corpus_digest(examples), "C": c, "min_df": MIN_DF,
            "features": "kiwi (cong, no typo or multi-word dictionary, each space-separated word analysed "
                        "alone) content lemmas (topic, affiliate); "
                        "morphemes + morpheme bigrams + character 2/3-grams (kind, sentiment); all (urgency); "
                        "sublinear TF-IDF, l2",
            "learner": "scikit-learn LogisticRegression (multinomial, class_weight=balanced)",
            "critical_threshold": threshold,
            "corrections": sum(1 for e in examples if e.style == "correction")}
    log(f"trained in {time.perf_counter() - started:.1f} s, C={c}")
    return LinearModel(version=version, vocabulary=vocab, idf=idf.astype(np.float32), heads=heads, meta=meta)

