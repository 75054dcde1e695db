"""The statistical part of the classifier: linear models over TF-IDF features, one
head per field (topic, kind, sentiment, affiliate). Pure numpy at run time; the
training code (scikit-learn) writes the same arrays into the model file.

`predict` gives, per head, the label and its probability (softmax of the linear
scores: the multinomial logistic regression that was trained)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

HEADS = ("topic", "kind", "sentiment", "affiliate")


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
    groups: str = "lmbc"  # the feature groups (prefix letters, see features.py) this head reads


@dataclass(frozen=True)
class LinearModel:
    version: str
    vocabulary: dict[str, int]
    idf: np.ndarray       # (n_features,)
    heads: dict[str, Head]
    meta: dict = field(default_factory=dict)

    def vectorise(self, feats: Counter[str], groups: str = "lmbc") -> tuple[np.ndarray, np.ndarray]:
        return tfidf(feats, self.vocabulary, self.idf, groups)

    def predict(self, feats: Counter[str]) -> tuple[dict[str, tuple[str, float]], float]:
        """Per head (label, probability), and the share of the text's features the model knows."""
        views = {g: self.vectorise(feats, g) for g in {h.groups for h in self.heads.values()}}
        widest = max(views, key=len)
        known = len(views[widest][0]) / max(1, sum(1 for f in feats if f[0] in widest))
        out = {}
        for name, h in self.heads.items():
            ix, v = views[h.groups]
            scores = h.bias + (v @ h.weights[ix] if len(ix) else 0.0)
            p = np.exp(scores - scores.max())
            p /= p.sum()
            best = int(p.argmax())
            out[name] = (h.labels[best], float(p[best]))
        return out, known
