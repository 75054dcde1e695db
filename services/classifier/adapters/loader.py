"""Builds the classifier from its files: the Kiwi tokenizer, the model file and the
lexicon (a fixed one, or a LexiconSource that reloads operator edits)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from services.classifier.adapters.kiwi_tokenizer import KiwiTokenizer
from services.classifier.adapters.model_file import DEFAULT_MODEL, load_model
from services.classifier.domain.classify import Classifier
from services.classifier.domain.lexicon import DEFAULT_LEXICON, Lexicon, load_lexicon

_TOKENIZER: KiwiTokenizer | None = None


def tokenizer() -> KiwiTokenizer:
    """One Kiwi per process: it is the largest thing in memory."""
    global _TOKENIZER
    if _TOKENIZER is None:
        _TOKENIZER = KiwiTokenizer()
    return _TOKENIZER


def build_classifier(model_file: Path = DEFAULT_MODEL,
                     lexicon: Callable[[], Lexicon] | Path = DEFAULT_LEXICON) -> Classifier:
    """Fails with the file and line when the model or the lexicon is broken."""
    if isinstance(lexicon, Path):
        fixed = load_lexicon(lexicon)
        lexicon = lambda: fixed  # noqa: E731
    else:
        lexicon()
    return Classifier(tokenizer(), load_model(model_file), lexicon)
