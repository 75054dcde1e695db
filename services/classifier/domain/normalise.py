"""Text normalisation before analysis (pure).

Customers write ㅋㅋㅋㅋㅋ, ㅠㅠㅠ, !!!!, full-width letters and masked numbers
(010-****-1234); speech-to-text drops punctuation and spaces. Normalising keeps the
features stable across registers without changing what was said. Evidence spans are
always taken from the original text, never from this form."""

from __future__ import annotations

import re
import unicodedata

_REPEAT = re.compile(r"(.)\1{2,}")          # ㅋㅋㅋㅋ -> ㅋㅋ, !!!! -> !!
_DIGITS = re.compile(r"[0-9]+")
_MASK = re.compile(r"[*＊]+")
_SPACE = re.compile(r"\s+")
_HANGUL = re.compile(r"[가-힣ㄱ-ㅎㅏ-ㅣ]")
_LETTER = re.compile(r"[^\W\d_]")


def normalise(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).lower()
    t = _REPEAT.sub(r"\1\1", t)
    t = _MASK.sub("*", t)
    t = _DIGITS.sub("0", t)
    return _SPACE.sub(" ", t).strip()


def hangul_share(text: str) -> float:
    """Share of letters that are Hangul: how Korean a text is."""
    letters = len(_LETTER.findall(text))
    return len(_HANGUL.findall(text)) / letters if letters else 0.0
