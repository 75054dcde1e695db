"""The shipped classifier (model and lexicon), built once per test process for the tests that classify text."""

from __future__ import annotations

from functools import cache

from services.classifier.adapters.loader import build_classifier
from services.classifier.domain.classify import Classifier


@cache
def classifier() -> Classifier:
    return build_classifier()
