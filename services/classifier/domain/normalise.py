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
_HANGUL = re.compile(r"[가-힣ㄱ-ㅎㅏ-ㅣ]+")


def normalise(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).lower()
    t = _REPEAT.sub(r"\1\1", t)
    t = _MASK.sub("*", t)
    t = _DIGITS.sub("0", t)
    return " ".join(t.split())  # str.split() splits where re's \s matches (str.isspace)


def hangul_share(text: str) -> float:
    """Share of letters that are Hangul: how Korean a text is. (Counted in runs, and the other
    letters with `str.isalpha`, not one regex match per letter: this runs for every text.)"""
    rest = _HANGUL.sub("", text)  # every Hangul letter is alphabetic: only the rest is counted
    letters = len(text) - len(rest) + sum(map(str.isalpha, rest))
    return (len(text) - len(rest)) / letters if letters else 0.0


_INITIALS = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_VOWELS = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
_FINALS = " ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ"  # index 0: no final consonant


_SPLIT_SYLLABLE = re.compile("[ㄱ-ㅎ][ㅏ-ㅣ]")  # a consonant letter right before a vowel letter


def has_split_syllables(text: str) -> bool:
    """Whether `compose_jamo` would change anything (cheap; most texts have no such pair)."""
    return _SPLIT_SYLLABLE.search(text) is not None


def compose_jamo(text: str) -> tuple[str, list[tuple[int, int]]]:
    """Letters typed apart to slip past filters ("ㅅㅐㄲㅣ", "ㄴㅏㅃㅡㄴ") put back together as
    syllables ("새끼", "나쁜"), with each character's (start, end) in `text`. A consonant
    before a vowel starts a syllable; one after it closes the syllable unless a vowel
    follows it. Everything else is kept as it is."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        lead = _INITIALS.find(text[i])
        vowel = _VOWELS.find(text[i + 1]) if lead >= 0 and i + 1 < n else -1
        if vowel < 0:
            out.append(text[i])
            spans.append((i, i + 1))
            i += 1
            continue
        end, tail = i + 2, 0
        if end < n and (t := _FINALS.find(text[end])) > 0 and not (end + 1 < n and text[end + 1] in _VOWELS):
            end, tail = end + 1, t
        out.append(chr(0xAC00 + (lead * 21 + vowel) * 28 + tail))
        spans.append((i, end))
        i = end
    return "".join(out), spans
