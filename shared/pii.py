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

import json
import re
from collections.abc import Callable
from dataclasses import dataclass


KINDS = ("email", "rrn", "phone", "card", "driver_license", "passport", "account")

# Numbers are looked for in a view of the text with every character mapped to one character
# (so offsets are the original's): full-width forms as ASCII (０１０－１２３４), every kind of space
# (an e-mail editor's no-break space, the full-width space, a tab) as " ", and the dashes,
# middle dots, tildes and slashes people type between digit groups (‐ – — ― − － ㅡ · ㆍ ~ ∼ /) as "-":
# ㆍ is the Korean keyboard's middle dot, − and ∼ come from word processors and the IME's symbols.
_SPACES = "\t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_JOINERS = "~～∼/／⁄"  # between two numbers as often as inside one: 010-1234-5678/02-123-4567
_VIEW_TABLE = {**{chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)}, **dict.fromkeys(_SPACES, " "),
               **dict.fromkeys("‐‑‒–—―−⁃－ㅡ·ㆍ・‧_" + _JOINERS, "-")}
_VIEW = str.maketrans(_VIEW_TABLE)
_SPLIT_VIEW = str.maketrans({**_VIEW_TABLE, **dict.fromkeys(_JOINERS, ",")})  # the joiners as a boundary
# digit groups written loosely apart ("4111 - 1111", "010  1234") are read as "4111-1111" and "010 1234"
_LOOSE_SEPARATOR = re.compile(r"[0-9](?: *[-.] *| {2,})(?=[0-9])")

# A number starts where no digit (or a digit and a separator) comes before it: letters may
# ("신분증_850315-1234567.jpg", "id-850315-1234567", "card4111111111111111"; Korean particles
# follow numbers directly, "110-123-456789에서").
# A number ends before a Korean particle or punctuation, not inside an identifier ("…789abc").
_NB = r"(?<![0-9])(?<![0-9][-.])"
_NA = r"(?![0-9A-Za-z])(?![-.][0-9])"
# identifiers that are not personal data, though made of digit groups: intake's case codes and UUIDs
# (case and event ids in reasons and logs)
_IDENTIFIER = re.compile(r"VOC-\d{4}-\d{6,}(?![0-9])|(?<![0-9A-Fa-f])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
                         r"[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f])")

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+[@＠][A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_RRN = re.compile(_NB + r"(\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))[ ]?[-.]?[ ]?([1-8])(\d{6})(?!\d)")
_MOBILE = re.compile(
    r"(?:(?<![A-Za-z0-9_+])\+82[ -]?\(?0?\)?[ -]?|" + _NB + r")\(?(0?1[016789])\)?(?: ?[.-] ?| )?(\d{3,4})(?: ?[.-] ?| )?(\d{4})" + _NA)
_LANDLINE = re.compile(
    r"(?:(?<![A-Za-z0-9_+])\+82[ -]?|" + _NB + r")\(?(0?(?:2|[3-6][1-5]|70|50\d))\)?[ .)-]?(\d{3,4})[ .-]?(\d{4})" + _NA)
_DIGIT_RUN = re.compile(_NB + r"\d(?:[ .-]?\d){9,18}" + _NA)
# STT spells digits out: 공일공 일이삼사 오육칠팔
_SPOKEN_MOBILE = re.compile(r"[공영]\s?일\s?[공영](?:\s?[공영일이삼사오육륙칠팔구]){7,8}")  # 10-19 digits with separators
_SHORT_RUN = re.compile(_NB + r"\d{8,9}" + _NA)  # an account without hyphens, counted only after an account word
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
    """The personal data in `text`; each span's `text` is as the view reads it (ASCII digits).
    Where a slash or tilde stands between digits, each side is also looked at alone: a number the
    two sides did not make together is found there (a phone and a second phone, a card and its
    expiry date)."""
    found = _found_in(text, _VIEW)
    if not any(c in text for c in _JOINERS):
        return found
    for s in _found_in(text, _SPLIT_VIEW):
        if not any(f.start < s.end and s.start < f.end for f in found):
            found.append(s)
    return sorted(found, key=lambda s: s.start)


def _tightened(view: str) -> tuple[str, list[int] | None]:
    """The view with loose separators between digits tightened, and where each of its characters
    stands in the view (None when nothing was tightened)."""
    parts: list[str] = []
    where: list[int] = []
    pos = 0
    for m in _LOOSE_SEPARATOR.finditer(view):
        a, b = m.start() + 1, m.end()
        if b - a == 1:
            continue  # one separator already
        parts.append(view[pos:a])
        where.extend(range(pos, a))
        loose = view[a:b]
        sep = loose.strip() or " "
        parts.append(sep)
        where.append(a + loose.index(sep))
        pos = b
    if not parts:
        return view, None
    parts.append(view[pos:])
    where.extend(range(pos, len(view)))
    return "".join(parts), where


def _found_in(original: str, table: dict) -> list[PiiSpan]:
    view = original.translate(table)
    tight, where = _tightened(view)
    found = _find(tight)
    if where is None:
        return found
    spans = [(where[s.start], where[s.end - 1] + 1, s.kind) for s in found]
    return [PiiSpan(kind, a, b, view[a:b]) for a, b, kind in spans]


def _find(text: str) -> list[PiiSpan]:
    found: list[PiiSpan] = []
    kept = [(m.start(), m.end()) for m in _IDENTIFIER.finditer(text)] if "-" in text else []

    def add(kind: str, start: int, end: int) -> None:
        if not any(s.start < end and start < s.end for s in found) and \
                not any(a < end and start < b for a, b in kept):
            found.append(PiiSpan(kind, start, end, text[start:end]))

    for m in _EMAIL.finditer(text):
        add("email", m.start(), m.end())
    for m in _RRN.finditer(text):
        add("rrn", m.start(), m.end())
    for m in _DRIVER.finditer(text):
        if _digits(m.group(0)) and ("-" in m.group(0) or not m.group(1).isdigit()):
            add("driver_license", m.start(), m.end())
    runs = list(_DIGIT_RUN.finditer(text))
    for m in runs:  # cards grouped as cards are, before phones claim a middle "2323 3390"
        if _CARD_GROUPS.fullmatch(m.group(0)) and luhn_ok(_digits(m.group(0))):
            add("card", m.start(), m.end())
    for m in _MOBILE.finditer(text):
        add("phone", m.start(), m.end())
    for m in _LANDLINE.finditer(text):
        add("phone", m.start(), m.end())
    for m in _SPOKEN_MOBILE.finditer(text):
        add("phone", m.start(), m.end())
    for m in runs:
        digits = _digits(m.group(0))
        if 13 <= len(digits) <= 19 and luhn_ok(digits) and not _account_not_card(text, m):
            add("card", m.start(), m.end())
        elif not _looks_like_biz_number(text, m) and not _is_reference_number(text, m):
            add("account", m.start(), m.end())  # 10-19 digits: an account, or a card with its CVC after it
    for m in _GROUPED.finditer(text):
        digits = _digits(m.group(0))
        account_context = _context_before(text, m.start(), _ACCOUNT_CONTEXT)
        if (len(digits) >= 10 or (account_context and len(digits) >= 8)) and not _looks_like_biz_number(text, m) \
                and not _looks_like_date(m.group(0)) and not _is_reference_number(text, m):
            add("account", m.start(), m.end())
    for m in _SHORT_RUN.finditer(text):
        if _context_before(text, m.start(), _ACCOUNT_CONTEXT) and not _is_reference_number(text, m):
            add("account", m.start(), m.end())
    for m in _PASSPORT.finditer(text):
        add("passport", m.start(), m.end())
    return sorted(found, key=lambda s: s.start)


_CARD_GROUPS = re.compile(r"\d{15,16}|\d{4}([ .-])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ .-])\d{6}\2\d{4,5}")


_BANK_CONTEXT = re.compile(r"은행|뱅크|농협|신협|수협|새마을금고|우체국|증권|bank", re.I)


def _account_not_card(text: str, m: re.Match) -> bool:
    """A number that passes the card check by chance (one in ten does) but is not grouped or sized as
    cards are (4-4-4-4, 4-6-5, 15 or 16 digits): an account, masked as one (its last 3 digits kept, not
    a card's first 6 and last 4), when it is grouped some other way (a bank's 6-2-6) or follows an
    account word or a bank's name ("계좌번호: 국민은행 81230201123457")."""
    number = m.group(0)
    if _CARD_GROUPS.fullmatch(number):
        return False
    return not number.isdigit() or _context_before(text, m.start(), _ACCOUNT_CONTEXT) or \
        _context_before(text, m.start(), _BANK_CONTEXT)


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
        case "email":  # never longer than the address: masked text must fit where the original did
            local, _, domain = t.rpartition("@")
            return (local[0] + "*" * min(3, len(local) - 1) if len(local) > 1 else "*") + "@" + domain
        case "rrn":
            return _mask_digits(t, 7, 0)
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


# Speech: STT writes digits out in Hangul (팔오공삼일오 일이삼사오육칠, 공일공 이삼사오), and cuts
# a number wherever the speaker paused, so its parts land in different segments and turns
# ("카드번호는 4111 1111" | "1111 1111 입니다"), where no whole-number pattern can see them.
_SPOKEN_DIGIT = "[공영일이삼사오육륙칠팔구]"
_SPOKEN_RUN = re.compile(f"{_SPOKEN_DIGIT}(?: ?{_SPOKEN_DIGIT}){{5,}}")  # 6 or more digits said
# written digits not followed by a unit (an amount, a date, a count), nor a 15xx call-centre number
_UNIT = r"(?![0-9A-Za-z])(?! ?[원만천억%년월일시분초개건회차])"
_WRITTEN_RUN = re.compile(r"(?<![0-9*A-Za-z])(?!1[5-8]\d\d[ -]?\d{4}(?![0-9]))\d(?:[ .-]?\d){5,}" + _UNIT)
_EDGE_START = re.compile(rf"^\W*(?:\d(?:[ .-]?\d){{2,}}{_UNIT}|{_SPOKEN_DIGIT}(?: ?{_SPOKEN_DIGIT}){{3,}})")
_EDGE_END = re.compile(rf"(?:(?<![0-9])\d(?:[ .-]?\d){{2,}}|{_SPOKEN_DIGIT}(?: ?{_SPOKEN_DIGIT}){{3,}})\W*$")
_SPOKEN_OR_DIGIT = re.compile(rf"\d|{_SPOKEN_DIGIT}")  # full-width digits too
# a hyphen read aloud: 공일공에 일이삼사에 오육칠팔, 010에 1234에 5678, 공일공 다시 일이삼사; groups of
# two or more digits joined so, six or more digits in all
_SAID_HYPHEN = r"(?: ?(?:에|다시) ?| )"
_SPOKEN_GROUP = rf"{_SPOKEN_DIGIT}(?: ?{_SPOKEN_DIGIT})+"
_SPOKEN_JOINED = re.compile(rf"{_SPOKEN_GROUP}(?:{_SAID_HYPHEN}{_SPOKEN_GROUP})+")
_WRITTEN_JOINED = re.compile(rf"(?<![0-9A-Za-z])\d{{2,}}(?:{_SAID_HYPHEN}\d{{2,}})+" + _UNIT)


def mask_speech(text: str) -> str:
    """`mask_text`, then for transcribed speech also: every run of six or more digits, written
    or said (a number read out in parts, its hyphens said as 에), and a run of three or more digits, or four said, at
    the very start or end (the rest of it is in the neighbouring segment). Amounts (…원, …만)
    are kept; an ordinary word made of digit syllables (이사, 일이) is too short to count."""
    masked = mask_text(text)
    spans = [m.span() for rx in (_SPOKEN_RUN, _WRITTEN_RUN, _EDGE_START, _EDGE_END) for m in rx.finditer(masked)]
    spans += [m.span() for rx in (_SPOKEN_JOINED, _WRITTEN_JOINED) for m in rx.finditer(masked)
              if len(_SPOKEN_OR_DIGIT.findall(m.group(0))) >= 6]
    if not spans:
        return masked
    kept = [m.span() for m in _IDENTIFIER.finditer(masked)]
    out = list(masked)
    for a, b in spans:
        for i in range(a, b):
            if _SPOKEN_OR_DIGIT.fullmatch(out[i]) and not any(k <= i < e for k, e in kept):
                out[i] = "*"
    return "".join(out)


def mask_name(name: str) -> str:
    """김철용 -> 김*용, 이수 -> 이*"""
    n = name.strip()
    if len(n) <= 1:
        return "*"
    if len(n) == 2:
        return n[0] + "*"
    return n[0] + "*" * (len(n) - 2) + n[-1]


_TITLES = {"고객", "고객님", "님", "씨", "귀하", "선생님", "대리", "과장", "차장", "부장", "팀장", "사원", "주임"}
_TITLE_ENDINGS = sorted(_TITLES, key=len, reverse=True)  # 홍길동고객님: the longest title it ends with
_HANGUL_RUN = re.compile(r"[가-힣]+")
# a Latin-letter word (Hong, Gil-dong, KIM, also before a Hangul title or after a quote): not a part of an
# e-mail address or a domain, which mask_text has masked already, nor of an identifier with digits (CUST12345)
_LATIN_NAME = re.compile(r"(?<![A-Za-z0-9_@])(?<![A-Za-z0-9]\.)[A-Za-z](?:[A-Za-z'-]*[A-Za-z])?"
                         r"(?![A-Za-z0-9_@])(?!\.[A-Za-z0-9])")


def _masked_hangul(m: re.Match) -> str:
    word = m.group(0)
    if word in _TITLES:
        return word
    name, title = word, ""
    for t in _TITLE_ENDINGS:  # a name of two syllables or more before it (박귀하 is a name, not 박 + 귀하)
        if word.endswith(t) and len(word) - len(t) >= 2:
            name, title = word[:-len(t)], t
            break
    return (mask_name(name) if len(name) >= 2 else name) + title


def mask_customer_ref(ref: str) -> str:
    """A customer reference field is a name and numbers more often than not: mask both
    (홍길동 010-1234-5678 -> 홍*동 010-1234-****). A title stays, written apart or not
    (홍길동고객님 -> 홍*동고객님), and so does a surname alone; a name in Latin letters is masked
    too (Hong Gildong -> H**g G*****g)."""
    masked = _HANGUL_RUN.sub(_masked_hangul, mask_text(ref))
    return _LATIN_NAME.sub(lambda m: m.group(0) if len(m.group(0)) < 2 else mask_name(m.group(0)), masked)


_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_CUSTOMER_KEYS = {"customer", "customer_ref"}


def mask_payload(data: bytes, mask: Callable[[str], str] = mask_text) -> bytes:
    """A message that is being set aside (dead-lettered) as it came, with its personal data
    masked: every string of a JSON document (the customer fields as customer references), written
    back with Korean as it is, not as \\uXXXX escapes (which would hide a number's boundaries
    from the patterns); anything else as text, escapes read first. Unchanged when there is
    nothing to mask."""
    text = data.decode("utf-8", errors="replace")
    try:
        doc = json.loads(text)
    except ValueError:
        unescaped = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
        masked = mask(unescaped)
        return data if masked == unescaped == text else masked.encode()
    changed = False

    def walk(value, key: str = ""):
        nonlocal changed
        if isinstance(value, str):
            masked = mask_customer_ref(value) if key in _CUSTOMER_KEYS else mask(value)
            changed = changed or masked != value
            return masked
        if isinstance(value, list):
            return [walk(v, key) for v in value]
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        return value

    masked = walk(doc)
    return json.dumps(masked, ensure_ascii=False, separators=(",", ":")).encode() if changed else data


def shares_customer(receiver: str, came_via: str | None, cross_affiliate_consent: bool) -> bool:
    """Whether the customer's reference may go to affiliate `receiver` (the team a case is routed
    to, the card or bank system asked to act): personal data crosses affiliates only with the
    customer's consent. A customer who came through a group-wide channel (`came_via` None) or
    through the receiver itself is not crossing."""
    return cross_affiliate_consent or came_via in (None, receiver)
