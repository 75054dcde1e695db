"""Personal-data detection and masking for everything that leaves intake.

Detects resident and foreigner registration numbers (with or without hyphen or
spaces; never rejected on the checksum, which numbers issued since October 2020
do not follow), card numbers (Luhn, 13-19 digits, any separators), bank accounts
(digit groups, or shorter runs after a context word such as 계좌), mobile and
landline phones (including +82), e-mails, passports and driver's licences.
Ordinary numbers stay: amounts, dates, tracking codes, business registration
numbers and the company's 15xx call-centre numbers.

Masks follow Korean conventions: 850315-1******, 010-1234-****, a card's first 6
and last 4 digits (PCI DSS), an account's last 3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


KINDS = ("email", "rrn", "phone", "card", "driver_license", "passport", "account")

# Korean particles follow numbers directly ("계좌 110-123-456789에서"), so boundaries are ASCII-only
_NB = r"(?<![A-Za-z0-9_-])"   # not preceded by an ASCII word character or hyphen
_NA = r"(?![A-Za-z0-9_-])"    # not followed by one

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+[@＠][A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_RRN = re.compile(_NB + r"(\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))[ ]?[-–.]?[ ]?([1-8])(\d{6})(?!\d)")
_MOBILE = re.compile(
    r"(?:(?<![A-Za-z0-9_+])\+82[ -]?\(?0?\)?[ -]?|" + _NB + r")\(?(0?1[016789])\)?(?: ?[.-] ?| )?(\d{3,4})(?: ?[.-] ?| )?(\d{4})" + _NA)
_LANDLINE = re.compile(
    r"(?:(?<![A-Za-z0-9_+])\+82[ -]?|" + _NB + r")\(?(0?(?:2|[3-6][1-5]|70|50\d))\)?[ .)-]?(\d{3,4})[ .-]?(\d{4})" + _NA)
_DIGIT_RUN = re.compile(_NB + r"\d(?:[ .-]?\d){9,18}" + _NA)
# STT spells digits out: 공일공 일이삼사 오육칠팔
_SPOKEN_MOBILE = re.compile(r"[공영]\s?일\s?[공영](?:\s?[공영일이삼사오육륙칠팔구]){7,8}")  # 10-19 digits with separators
_GROUPED = re.compile(_NB + r"\d{1,8}(?:-\d{1,8}){1,3}" + _NA)
_DRIVER = re.compile(
    _NB + r"(\d{2}|서울|부산|경기|강원|충북|충남|전북|전남|경북|경남|제주|대구|인천|광주|대전|울산)"
    r"[ -]?(\d{2})[ -]?(\d{6})[ -]?(\d{2})" + _NA)
_PASSPORT = re.compile(r"(?<![A-Za-z0-9])([MSRODG])(\d{8}|\d{3}[A-Z]\d{4})(?![A-Za-z0-9])", re.I)
_ACCOUNT_CONTEXT = re.compile(r"(계좌|계좌번호|통장|입금|이체|송금|환불\s*받을|예금주|가상\s*계좌|account)", re.I)
_BIZ_CONTEXT = re.compile(r"(사업자|법인\s*번호|가맹점\s*번호)")
_REFERENCE_CONTEXT = re.compile(r"(주문\s*번호|승인\s*번호|접수\s*번호|예약\s*번호|거래\s*번호|송장|\bref\b)", re.I)


@dataclass(frozen=True)
class PiiSpan:
    kind: str
    start: int
    end: int
    text: str


def luhn_ok(digits: str) -> bool:
    total, alt = 0, False
    for ch in reversed(digits):
        d = int(ch)
        if alt:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
        alt = not alt
    return total % 10 == 0


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def _context_before(text: str, start: int, pattern: re.Pattern, width: int = 15) -> bool:
    return bool(pattern.search(text, max(0, start - width), start))


def find_pii(text: str) -> list[PiiSpan]:
    found: list[PiiSpan] = []

    def add(kind: str, start: int, end: int) -> None:
        if not any(s.start < end and start < s.end for s in found):
            found.append(PiiSpan(kind, start, end, text[start:end]))

    for m in _EMAIL.finditer(text):
        add("email", m.start(), m.end())
    for m in _RRN.finditer(text):
        add("rrn", m.start(), m.end())
    for m in _DRIVER.finditer(text):
        if _digits(m.group(0)) and ("-" in m.group(0) or not m.group(1).isdigit()):
            add("driver_license", m.start(), m.end())
    for m in _MOBILE.finditer(text):
        add("phone", m.start(), m.end())
    for m in _LANDLINE.finditer(text):
        add("phone", m.start(), m.end())
    for m in _SPOKEN_MOBILE.finditer(text):
        add("phone", m.start(), m.end())
    for m in _DIGIT_RUN.finditer(text):
        digits = _digits(m.group(0))
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            add("card", m.start(), m.end())
        elif 10 <= len(digits) <= 16 and not _looks_like_biz_number(text, m) and not _is_reference_number(text, m):
            add("account", m.start(), m.end())
    for m in _GROUPED.finditer(text):
        digits = _digits(m.group(0))
        account_context = _context_before(text, m.start(), _ACCOUNT_CONTEXT)
        if (len(digits) >= 10 or (account_context and len(digits) >= 8)) and not _looks_like_biz_number(text, m) \
                and not _looks_like_date(m.group(0)) and not _is_reference_number(text, m):
            add("account", m.start(), m.end())
    for m in _PASSPORT.finditer(text):
        add("passport", m.start(), m.end())
    return sorted(found, key=lambda s: s.start)


def _is_reference_number(text: str, m: re.Match) -> bool:
    """Order and approval numbers: after a reference word, or starting with a yyyymmdd date."""
    if _context_before(text, m.start(), _REFERENCE_CONTEXT) and not _context_before(text, m.start(), _ACCOUNT_CONTEXT, 8):
        return True
    return bool(re.match(r"(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])-|(19|20)\d{2}[-.]\d{1,2}[-.]\d{1,2}\b",
                         m.group(0)))


def _looks_like_biz_number(text: str, m: re.Match) -> bool:
    """123-45-67890 is a business registration number unless an account word precedes it."""
    shape = re.fullmatch(r"\d{3}-\d{2}-\d{5}", m.group(0))
    if _context_before(text, m.start(), _BIZ_CONTEXT):
        return True
    return bool(shape) and not _context_before(text, m.start(), _ACCOUNT_CONTEXT)


def _looks_like_date(s: str) -> bool:
    return bool(re.fullmatch(r"(19|20)\d{2}-\d{1,2}-\d{1,2}", s))


def _mask_digits(s: str, keep_first: int, keep_last: int) -> str:
    total = len(_digits(s))
    out, i = [], 0
    for ch in s:
        if ch.isdigit():
            out.append(ch if i < keep_first or i >= total - keep_last else "*")
            i += 1
        else:
            out.append(ch)
    return "".join(out)


def _mask(span: PiiSpan) -> str:
    t = span.text
    match span.kind:
        case "email":
            local, _, domain = t.partition("@")
            return f"{local[0]}***@{domain}"
        case "rrn":
            m = _RRN.fullmatch(t)
            return f"{m.group(1)}-{m.group(2)}******" if m else _mask_digits(t, 7, 0)
        case "phone":
            return _mask_last(t, 4)
        case "card":
            return _mask_digits(t, 6, 4)
        case "driver_license":
            return _mask_last(t, 8)
        case "passport":
            return t[:4] + "*" * (len(t) - 4)
        case _:
            return _mask_digits(t, 0, 3)


_SPOKEN_DIGITS = set("공영일이삼사오육륙칠팔구")


def _mask_last(s: str, n: int) -> str:
    """Replace the last n digits (or spoken digits) with *."""
    out, left = list(s), n
    for i in range(len(out) - 1, -1, -1):
        if left and (out[i].isdigit() or out[i] in _SPOKEN_DIGITS):
            out[i] = "*"
            left -= 1
    return "".join(out)


def mask_text(text: str) -> str:
    """Mask every piece of personal data in free text."""
    spans = find_pii(text)
    if not spans:
        return text
    out, pos = [], 0
    for s in spans:
        out.append(text[pos:s.start])
        out.append(_mask(s))
        pos = s.end
    out.append(text[pos:])
    return "".join(out)


def mask_name(name: str) -> str:
    """김철용 -> 김*용, 이수 -> 이*"""
    n = name.strip()
    if len(n) <= 1:
        return "*"
    if len(n) == 2:
        return n[0] + "*"
    return n[0] + "*" * (len(n) - 2) + n[-1]


_HANGUL_NAME = re.compile(r"(?<![가-힣])[가-힣]{2,4}(?![가-힣])")
_TITLES = {"고객", "고객님", "님", "씨", "대리", "과장", "차장", "부장", "팀장", "사원", "주임"}


def mask_customer_ref(ref: str) -> str:
    """A customer reference field is a name and numbers more often than not: mask both
    (홍길동 010-1234-5678 -> 홍*동 010-1234-****); honorifics stay."""
    return _HANGUL_NAME.sub(lambda m: m.group(0) if m.group(0) in _TITLES else mask_name(m.group(0)), mask_text(ref))
