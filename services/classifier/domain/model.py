"""The statistical part of the classifier: linear models over TF-IDF features, one
head per field (topic, kind, sentiment, affiliate). Pure numpy at run time; the
training code (scikit-learn) writes the same arrays into the model file.

`predict` gives, per head, the label and its probability (softmax of the linear
scores: the multinomial logistic regression that was trained). The urgency head does not
decide urgency (the rules do, with evidence); its probability of `critical` backs up the
critical rules, see classify.py."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence
from itertools import repeat
from operator import itemgetter
from dataclasses import dataclass, field

import numpy as np

from services.classifier.domain.features import GROUPS

HEADS = ("topic", "kind", "sentiment", "affiliate", "urgency")


def tfidf(feats: Counter[str], vocabulary: dict[str, int], idf: np.ndarray,
          groups: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices and l2-normalised sublinear TF-IDF values of the known features in `groups`
    (prefix letters). Training builds its matrix rows with this too, so the service weighs
    features exactly as the model was trained."""
    idx, tf = [], []
    for f, n in feats.items():
        if f[0] in groups:
            i = vocabulary.get(f)
            if i is not None:
                idx.append(i)
                tf.append(1.0 + math.log(n))
    if not idx:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    ix = np.fromiter(idx, np.int64, len(idx))
    v = np.fromiter(tf, np.float32, len(tf)) * idf[ix]
    return ix, v / np.linalg.norm(v)


@dataclass(frozen=True)
class Head:
    labels: tuple[str, ...]
    bias: np.ndarray      # (n_labels,)
    weights: np.ndarray   # (n_features, n_labels)
    groups: str = GROUPS  # the feature groups (prefix letters, see features.py) this head reads


@dataclass(frozen=True)
class LinearModel:
    version: str
    vocabulary: dict[str, int]
    idf: np.ndarray       # (n_features,)
    heads: dict[str, Head]
    meta: dict = field(default_factory=dict)

    @property
    def critical_threshold(self) -> float:
        """P(critical) from which the urgency head calls a text critical on its own (above 1: never)."""
        return float(self.meta.get("critical_threshold", 1.01))

    def vectorise(self, feats: Counter[str], groups: str = GROUPS) -> tuple[np.ndarray, np.ndarray]:
        return tfidf(feats, self.vocabulary, self.idf, groups)

    def __post_init__(self) -> None:
        # the group (prefix letter) of every known feature, and per head view a lookup table
        # from letter code to "in this view", so views are masks computed in numpy
        group = np.zeros(len(self.idf), np.uint8)
        for f, i in self.vocabulary.items():
            group[i] = ord(f[0]) if ord(f[0]) < 128 else 0
        tables = {}
        for groups in {h.groups for h in self.heads.values()}:
            table = np.zeros(128, bool)
            table[[ord(c) for c in groups]] = True
            tables[groups] = table
        object.__setattr__(self, "_group", group)
        object.__setattr__(self, "_views", tables)
        object.__setattr__(self, "_widest", max(tables, key=len))  # the view the known share is taken in
        # every feature is in it (the trained models' case): a text's unknown features all count there
        object.__setattr__(self, "_widest_takes_all", set(GROUPS) <= set(self._widest))
        # heads that read the same view are scored together: their weights side by side, one gather
        stacks = {}
        for groups in tables:
            names = [name for name, h in self.heads.items() if h.groups == groups]
            heads = [self.heads[name] for name in names]
            cuts = np.cumsum([0, *(len(h.labels) for h in heads)])
            stacks[groups] = (np.hstack([h.weights for h in heads]) if len(heads) > 1 else heads[0].weights,
                              np.concatenate([h.bias for h in heads]).astype(np.float64),
                              [(name, slice(a, b)) for name, a, b in zip(names, cuts, cuts[1:])])
        object.__setattr__(self, "_stacks", stacks)

    def probabilities(self, feats: Counter[str]) -> tuple[dict[str, np.ndarray], float]:
        """Per head the probability of each label (in `Head.labels` order), and the share of
        the text's features the model knows."""
        return self.probabilities_batch([feats])[0]

    def probabilities_batch(self, batch: Sequence[Counter[str]]) -> list[tuple[dict[str, np.ndarray], float]]:
        """`probabilities` of several texts at once: their features are looked up together, and
        each head scores the whole batch in a few array operations instead of a few per text.
        Each head reads its view (feature groups), l2-normalised per text."""
        n = len(batch)
        keys = [k for feats in batch for k in feats]
        found = np.fromiter(map(self.vocabulary.get, keys, repeat(-1)), np.int64, len(keys))
        counts = np.fromiter((c for feats in batch for c in feats.values()), np.float32, len(keys))
        row = np.repeat(np.arange(n), [len(feats) for feats in batch])
        known_mask = found >= 0
        widest = self._widest
        in_widest = np.fromiter((sum(1 for c in map(itemgetter(0), feats) if c in widest) for feats in batch),
                                np.int64, n)
        return self._score(n, row[known_mask], found[known_mask], counts[known_mask], in_widest)

    def probabilities_indexed(self, row: np.ndarray, ix: np.ndarray,
                              unknown: Sequence[Collection[str]]) -> list[tuple[dict[str, np.ndarray], float]]:
        """`probabilities_batch` of texts whose known features come as model indices, one entry
        per occurrence (`row[k]` is the text of `ix[k]`), and whose unknown features come as
        names (each text's distinct ones, one collection per text): what `WordIndex` produces.
        Same figures."""
        n = len(unknown)
        keys, counts = np.unique(row * len(self.idf) + ix, return_counts=True)  # sorted: by text, then feature
        row, ix = np.divmod(keys, len(self.idf))
        widest = self._widest
        known_in_widest = np.bincount(row[self._views[widest][self._group[ix]]], minlength=n)
        if self._widest_takes_all:
            unknown_in_widest = np.fromiter(map(len, unknown), np.int64, n)
        else:
            unknown_in_widest = np.fromiter((sum(1 for f in names if f[0] in widest) for names in unknown), np.int64, n)
        in_widest = known_in_widest + unknown_in_widest
        return self._score(n, row, ix, counts.astype(np.float32), in_widest)

    def _score(self, n: int, row: np.ndarray, ix: np.ndarray, counts: np.ndarray,
               in_widest: np.ndarray) -> list[tuple[dict[str, np.ndarray], float]]:
        """The texts' distinct known features (`row` ascending), their counts, and per text how
        many distinct features (known or not) its widest view has."""
        w = (1.0 + np.log(counts)) * self.idf[ix]
        g = self._group[ix]
        views = {}
        for groups, table in self._views.items():
            keep = table[g]
            vix, vrow, v = ix[keep], row[keep], w[keep]
            norm = np.sqrt(np.bincount(vrow, weights=v * v, minlength=n))
            rows, starts = np.unique(vrow, return_index=True)  # rows are in order: each one's run starts here
            views[groups] = (vix, vrow, v / np.where(norm > 0, norm, 1.0)[vrow], rows, starts)
        scores = {}
        for groups, (weights, bias, parts) in self._stacks.items():
            vix, vrow, v, rows, starts = views[groups]
            s = np.tile(bias, (n, 1))
            if len(vix):
                s[rows] += np.add.reduceat(weights[vix] * v[:, None], starts, axis=0)
            for name, cols in parts:
                p = np.exp(s[:, cols] - s[:, cols].max(axis=1, keepdims=True))
                scores[name] = p / p.sum(axis=1, keepdims=True)
        known = np.bincount(views[self._widest][1], minlength=n) / np.maximum(1, in_widest)
        return [({name: scores[name][r] for name in self.heads}, float(known[r])) for r in range(n)]

    def best(self, probs: dict[str, np.ndarray]) -> dict[str, tuple[str, float]]:
        """Per head the most likely label and its probability."""
        heads, out = self.heads, {}
        for name, p in probs.items():
            i = int(p.argmax())  # p[i], not p.max(): numpy's max is a Python-level call per array
            out[name] = (heads[name].labels[i], float(p[i]))
        return out

    def predict(self, feats: Counter[str]) -> tuple[dict[str, tuple[str, float]], float]:
        """Per head (label, probability), and the share of the text's features the model knows."""
        probs, known = self.probabilities(feats)
        return self.best(probs), known

    def p_label(self, probs: dict[str, np.ndarray], head: str, label: str) -> float:
        labels = self.heads[head].labels
        return float(probs[head][labels.index(label)]) if label in labels else 0.0
