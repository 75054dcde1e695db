"""Personal data: masking for everything that leaves intake, and AES-256-GCM for
the originals kept at rest.

Masking follows Korean conventions (850315-1******, 010-1234-****) and PCI DSS
for cards (at most the first 6 and last 4 digits shown). Resident registration
numbers are never rejected on their checksum: numbers issued since October 2020
have random trailing digits.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_RRN = re.compile(r"(?<!\d)(\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))\s?-?\s?([1-8])\d{6}(?!\d)")
_LONG_NUMBER = re.compile(r"(?<![\d])\d(?:[ -]?\d){9,18}(?!\d)")  # cards and accounts, 10-19 digits
_PHONE = re.compile(r"(?<!\d)(01[016789]|0[2-6]\d?)[ .-]?(\d{3,4})[ .-]?(\d{4})(?!\d)")
_ACCOUNT = re.compile(r"(?<![\d-])(\d{2,6})-(\d{2,6})-(\d{2,8})(?:-(\d{1,4}))?(?![\d-])")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def luhn_ok(digits: str) -> bool:
    total, alt = 0, False
    for ch in reversed(digits):
        d = int(ch)
        if alt:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
        alt = not alt
    return total % 10 == 0


def _mask_long_number(m: re.Match) -> str:
    """A Luhn-valid 13-19 digit number is a card: first 6 and last 4 stay. Anything
    else this long (accounts, mistyped cards) keeps only its last 3 digits."""
    raw = m.group(0)
    digits = re.sub(r"\D", "", raw)
    if 13 <= len(digits) <= 19 and luhn_ok(digits):
        masked = digits[:6] + "*" * (len(digits) - 10) + digits[-4:]
    else:
        masked = "*" * (len(digits) - 3) + digits[-3:]
    # keep the customer's grouping so the text still reads naturally
    out, i = [], 0
    for ch in raw:
        if ch.isdigit():
            out.append(masked[i])
            i += 1
        else:
            out.append(ch)
    return "".join(out)


def _mask_account(m: re.Match) -> str:
    parts = [p for p in m.groups() if p]
    if sum(len(p) for p in parts) < 10:
        return m.group(0)
    last = parts[-1]
    return "-".join(["*" * len(p) for p in parts[:-1]] + ["*" * (len(last) - min(3, len(last))) + last[-3:]])


def mask_text(text: str) -> str:
    """Mask every resident number, card, account, phone number and e-mail in free text."""
    text = _RRN.sub(lambda m: f"{m.group(1)}-{m.group(2)}******", text)
    text = _PHONE.sub(lambda m: f"{m.group(1)}-{m.group(2)}-****", text)
    text = _LONG_NUMBER.sub(_mask_long_number, text)
    text = _ACCOUNT.sub(_mask_account, text)
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return text


def mask_name(name: str) -> str:
    """김철용 -> 김*용, 이수 -> 이*"""
    n = name.strip()
    if len(n) <= 1:
        return "*"
    if len(n) == 2:
        return n[0] + "*"
    return n[0] + "*" * (len(n) - 2) + n[-1]


class PiiKeyError(ValueError):
    pass


@dataclass(frozen=True)
class PiiCipher:
    """AES-256-GCM with a key ring: the first key encrypts, every key decrypts,
    so keys rotate without re-encrypting old rows at once."""

    keys: dict[str, bytes]
    active: str

    @classmethod
    def from_spec(cls, spec: str) -> "PiiCipher":
        """`kid:base64key[,kid:base64key...]`, first is active."""
        keys: dict[str, bytes] = {}
        for i, item in enumerate(filter(None, (p.strip() for p in spec.split(",")))):
            kid, sep, b64 = item.partition(":")
            if not sep or not kid.isalnum():
                raise PiiKeyError(f"PII key #{i + 1}: expected kid:base64key with an alphanumeric kid")
            try:
                key = base64.b64decode(b64, validate=True)
            except ValueError:
                raise PiiKeyError(f"PII key {kid!r}: not valid base64") from None
            if len(key) != 32:
                raise PiiKeyError(f"PII key {kid!r}: must be 32 bytes (AES-256), got {len(key)}")
            keys[kid] = key
        if not keys:
            raise PiiKeyError("no PII key given")
        return cls(keys=keys, active=next(iter(keys)))

    @staticmethod
    def generate_spec(kid: str = "k1") -> str:
        return f"{kid}:{base64.b64encode(os.urandom(32)).decode()}"

    def encrypt(self, plaintext: str, context: bytes = b"") -> bytes:
        nonce = os.urandom(12)
        ct = AESGCM(self.keys[self.active]).encrypt(nonce, plaintext.encode(), context)
        return self.active.encode() + b":" + nonce + ct

    def decrypt(self, blob: bytes, context: bytes = b"") -> str:
        kid, _, rest = bytes(blob).partition(b":")
        key = self.keys.get(kid.decode())
        if key is None:
            raise PiiKeyError(f"no key {kid.decode()!r} in the key ring")
        return AESGCM(key).decrypt(rest[:12], rest[12:], context).decode()
