"""The run-time scoring weighs features exactly as training does (training builds its
matrix rows with `tfidf`; the service scores every head in one pass)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from services.classifier.domain.model import Head, LinearModel, tfidf


def _model(rng: np.random.Generator) -> LinearModel:
    names = [f"{g}:{w}" for g in "lmbc" for w in ("카드", "분실", "결제", "앱", "지연", "요")]
    vocab = {f: i for i, f in enumerate(names)}
    heads = {h: Head(tuple(f"{h}{k}" for k in range(3)), rng.normal(size=3).astype(np.float32),
                     rng.normal(size=(len(names), 3)).astype(np.float32), groups)
             for h, groups in (("topic", "l"), ("kind", "mbc"), ("sentiment", "mbc"), ("affiliate", "l"),
                               ("urgency", "lmbc"))}
    return LinearModel("t", vocab, rng.uniform(1, 3, len(names)).astype(np.float32), heads)


def test_one_pass_scoring_equals_the_training_weights():
    rng = np.random.default_rng(3)
    model = _model(rng)
    feats = Counter({"l:카드": 2, "l:분실": 1, "m:요": 3, "b:결제": 1, "c:앱": 1, "c:unknown": 4, "l:모름": 1})
    probs, known = model.probabilities(feats)
    for name, head in model.heads.items():
        ix, v = tfidf(feats, model.vocabulary, model.idf, head.groups)
        scores = head.bias + v @ head.weights[ix]
        want = np.exp(scores - scores.max())
        np.testing.assert_allclose(probs[name], want / want.sum(), rtol=1e-5)
    assert known == 5 / 7  # the widest view (all groups): 5 of the 7 features are known


def test_a_text_with_no_known_feature_gets_the_priors():
    model = _model(np.random.default_rng(4))
    probs, known = model.probabilities(Counter({"l:없는말": 1}))
    head = model.heads["topic"]
    want = np.exp(head.bias - head.bias.max())
    np.testing.assert_allclose(probs["topic"], want / want.sum(), rtol=1e-6)
    assert known == 0.0


def test_a_batch_scores_each_text_as_it_would_alone():
    model = _model(np.random.default_rng(5))
    batch = [Counter({"l:카드": 2, "m:요": 1}), Counter({"l:없는말": 1}),  # nothing known, between two texts
             Counter({"c:앱": 3, "b:지연": 1, "l:결제": 1}), Counter({"m:요": 1}), Counter({"l:분실": 1})]
    together = model.probabilities_batch(batch)
    assert len(together) == len(batch)
    for feats, (probs, known) in zip(batch, together):
        alone, known_alone = model.probabilities_batch([feats])[0]
        for name, head in model.heads.items():
            ix, v = tfidf(feats, model.vocabulary, model.idf, head.groups)
            scores = head.bias + (v @ head.weights[ix] if len(ix) else 0.0)
            want = np.exp(scores - scores.max())
            np.testing.assert_allclose(probs[name], want / want.sum(), rtol=1e-5)
            np.testing.assert_allclose(probs[name], alone[name], rtol=1e-12)
        assert known == known_alone


def _indexed(model: LinearModel, batch: list[Counter]) -> tuple[np.ndarray, np.ndarray, list[set[str]]]:
    """The batch as WordIndex gives it: known features as indices, once per occurrence, unknown by name."""
    row, ix = [], []
    for r, feats in enumerate(batch):
        for f, n in feats.items():
            if f in model.vocabulary:
                row += [r] * n
                ix += [model.vocabulary[f]] * n
    unknown = [{f for f in feats if f not in model.vocabulary} for feats in batch]
    return np.array(row, np.int64), np.array(ix, np.int64), unknown


def test_indexed_scoring_equals_scoring_by_name_whichever_view_is_widest():
    batch = [Counter({"l:카드": 2, "m:요": 1, "c:없음": 2, "l:모름": 1}), Counter({"l:없는말": 1}),
             Counter({"c:앱": 3, "b:지연": 1, "l:결제": 1, "b:처음_보는": 1})]
    for urgency_view, known_shares in (("lmbc", [1 / 2, 0.0, 3 / 4]), ("mbc", [1 / 2, 0.0, 2 / 3])):
        model = _model(np.random.default_rng(6))
        model = LinearModel("t", model.vocabulary, model.idf, {**model.heads, "urgency": Head(
            model.heads["urgency"].labels, model.heads["urgency"].bias, model.heads["urgency"].weights, urgency_view)})
        by_name = model.probabilities_batch(batch)
        indexed = model.probabilities_indexed(*_indexed(model, batch))
        assert [known for _, known in indexed] == [known for _, known in by_name] == known_shares
        for (probs, _), (want, _) in zip(indexed, by_name):
            for name in model.heads:
                np.testing.assert_allclose(probs[name], want[name], rtol=1e-12)
