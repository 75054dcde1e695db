"""AES-256-GCM for personal data at rest, with a key ring for rotation."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


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
