"""The model artifact: one UTF-8 text file, one feature per line, so a damaged file
is reported by line and a new version diffs readably.

    #moksori-classifier-model 1
    #meta {"version": "...", "heads": {"topic": [labels...], ...}, ...}
    #bias topic <b1> <b2> ...           (one line per head)
    <feature>\t<idf>\t<topic weights>\t<kind weights>\t...   (space-separated numbers)

Features never contain a tab or a newline (they come from normalised text)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import numpy as np

from services.classifier.domain.model import HEADS, Head, LinearModel
from shared.datafiles import DataFileError
from shared.events import Affiliate, Kind, Sentiment, Topic, Urgency

MAGIC = "#moksori-classifier-model 1"
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "data" / "model.tsv"
# the labels each head may predict: the event contract's (a label it does not know fails every Classification)
CONTRACT_LABELS: dict[str, frozenset[str]] = {
    head: frozenset(get_args(labels)) for head, labels in
    (("topic", Topic), ("kind", Kind), ("sentiment", Sentiment), ("affiliate", Affiliate), ("urgency", Urgency))}
# labels the classifier asks a head for by name (classify.py: P(critical) backs up the critical rules)
REQUIRED_LABELS: dict[str, frozenset[str]] = {"urgency": frozenset({"critical"})}


def _fail(path: Path, line: int, message: str) -> DataFileError:
    return DataFileError(f"{path}:{line}: {message}")


def _numbers(path: Path, line: int, what: str, text: str, n: int) -> np.ndarray:
    parts = text.split()
    if len(parts) != n:
        raise _fail(path, line, f"{what}: expected {n} numbers, found {len(parts)}")
    try:
        values = np.array(parts, dtype=np.float32)
    except ValueError as exc:
        raise _fail(path, line, f"{what}: {exc}") from None
    if not np.isfinite(values).all():
        raise _fail(path, line, f"{what}: not a finite number")
    return values


def _check_labels(path: Path, head: str, labels: tuple) -> None:
    """A head's labels (the #meta line, line 2) against the event contract, so a renamed or unknown label fails
    the load rather than every classification that predicts it."""
    allowed = CONTRACT_LABELS[head]
    unknown = [label for label in labels if not isinstance(label, str) or label not in allowed]
    if unknown:
        raise _fail(path, 2, f"head {head!r}: labels {unknown} are not in the event contract "
                             f"(shared/events.py); allowed: {sorted(allowed)}")
    if len(set(labels)) != len(labels):
        raise _fail(path, 2, f"head {head!r}: labels repeat: {list(labels)}")
    if not labels:
        raise _fail(path, 2, f"head {head!r} has no labels")
    missing = sorted(REQUIRED_LABELS.get(head, frozenset()) - set(labels))
    if missing:
        raise _fail(path, 2, f"head {head!r}: missing labels {missing}, which the classifier needs")


def load_model(path: Path = DEFAULT_MODEL) -> LinearModel:
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read the model file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        line = exc.object.count(b"\n", 0, exc.start) + 1
        raise DataFileError(f"{path}:{line}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if lines[0] != MAGIC:
        raise _fail(path, 1, f"not a Moksori classifier model (expected first line {MAGIC!r})")
    if len(lines) < 2 or not lines[1].startswith("#meta "):
        raise _fail(path, 2, "expected '#meta {json}'")
    try:
        meta = json.loads(lines[1][6:])
        heads_labels = {h: tuple(meta["heads"][h]) for h in HEADS}
        views = {h: str(meta.get("views", {}).get(h, "lmbc")) for h in HEADS}
        version = str(meta["version"])
        threshold = float(meta.get("critical_threshold", 1.01))
        if not 0.0 < threshold <= 1.01:
            raise ValueError(f"critical_threshold must be in (0, 1.01], got {threshold}")
    except (ValueError, KeyError, TypeError) as exc:
        raise _fail(path, 2, f"meta must be JSON with 'version' and 'heads' for {list(HEADS)}: {exc}") from None
    for h in HEADS:
        _check_labels(path, h, heads_labels[h])
    bias = {}
    n = 2
    for h in HEADS:
        n += 1
        prefix = f"#bias {h} "
        if n > len(lines) or not lines[n - 1].startswith(prefix):
            raise _fail(path, n, f"expected the bias line '{prefix}...'")
        bias[h] = _numbers(path, n, f"bias of {h}", lines[n - 1][len(prefix):], len(heads_labels[h]))
    # straight into preallocated arrays: building Python float lists first cost ~100 MB of RSS
    rows = len(lines) - len(HEADS) - 2
    vocab: dict[str, int] = {}
    idf = np.empty(rows, np.float32)
    weights = {h: np.empty((rows, len(heads_labels[h])), np.float32) for h in HEADS}
    for n, line in enumerate(lines[len(HEADS) + 2:], len(HEADS) + 3):
        if not line:
            continue
        cols = line.split("\t")
        if len(cols) != 2 + len(HEADS):
            raise _fail(path, n, f"expected {2 + len(HEADS)} tab-separated columns "
                                 f"(feature, idf, {', '.join(HEADS)}), found {len(cols)}")
        if cols[0] in vocab:
            raise _fail(path, n, f"feature {cols[0]!r} repeats line {len(HEADS) + 3 + vocab[cols[0]]}")
        i = vocab[cols[0]] = len(vocab)
        idf[i] = _numbers(path, n, "idf", cols[1], 1)[0]
        for h, col in zip(HEADS, cols[2:]):
            weights[h][i] = _numbers(path, n, f"{h} weights", col, len(heads_labels[h]))
    if not vocab:
        raise _fail(path, n, "the model has no features")
    k = len(vocab)
    heads = {h: Head(heads_labels[h], np.asarray(bias[h], np.float32), weights[h][:k].copy(), views[h])
             for h in HEADS}
    return LinearModel(version=version, vocabulary=vocab, idf=idf[:k].copy(), heads=heads, meta=meta)


def _fmt(values) -> str:
    return " ".join(f"{v:.4g}" for v in values)


def save_model(model: LinearModel, path: Path) -> None:
    meta = {**model.meta, "version": model.version, "heads": {h: list(model.heads[h].labels) for h in HEADS},
            "views": {h: model.heads[h].groups for h in HEADS}}
    out = [MAGIC, "#meta " + json.dumps(meta, ensure_ascii=False, sort_keys=True)]
    out += [f"#bias {h} {_fmt(model.heads[h].bias)}" for h in HEADS]
    for feature, i in sorted(model.vocabulary.items(), key=lambda kv: kv[1]):
        out.append("\t".join([feature, f"{model.idf[i]:.4g}", *(_fmt(model.heads[h].weights[i]) for h in HEADS)]))
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(out) + "\n", encoding="utf-8")
    tmp.replace(path)
