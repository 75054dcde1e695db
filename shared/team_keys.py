"""An affiliate's HTTP keys, kept and compared as digests (pure): its teams' for routing (TEAM_KEYS) and its
consultation systems' for feedback (CONSULTATION_KEYS), in the same format."""

from __future__ import annotations

import hashlib
import re
import secrets

from shared.events import AFFILIATES

HASHED = re.compile(r"sha256:([0-9a-f]{64})")


def key_digest(key: str) -> str:
    """A team key is random (`moksori team-key`: 192 bits), so a fast hash is enough: what matters is that
    TEAM_KEYS, and so the Secret and the process's environment, need not hold a key anyone could use."""
    return hashlib.sha256(key.encode()).hexdigest()


def parse_team_keys(spec: str) -> dict[str, str]:
    """{sha256 of a key: its affiliate}. An entry is `<affiliate>:sha256:<hex digest>` (what `moksori
    team-key` prints for TEAM_KEYS) or, for local runs, `<affiliate>:<key>` (16+ characters), kept
    only as its digest. An affiliate may have several keys (one per team system, or during a rotation)."""
    keys: dict[str, str] = {}
    for i, item in enumerate(filter(None, (p.strip() for p in spec.split(",")))):
        affiliate, sep, key = item.partition(":")
        hashed = HASHED.fullmatch(key)
        if not sep or affiliate not in AFFILIATES or not (hashed or (len(key) >= 16 and not key.startswith("sha256:"))):
            raise ValueError(f"entry #{i + 1}: expected <affiliate>:sha256:<64 hex digits> or <affiliate>:<key of 16+ "
                             f"characters>, affiliate one of {', '.join(AFFILIATES)}")
        keys[hashed[1] if hashed else key_digest(key)] = affiliate
    if not keys:
        raise ValueError("no affiliate keys")
    return keys


def new_team_key(affiliate: str) -> tuple[str, str]:
    """(the key to give the team, the TEAM_KEYS entry that holds only its digest)."""
    if affiliate not in AFFILIATES:
        raise ValueError(f"unknown affiliate {affiliate!r}; one of {', '.join(AFFILIATES)}")
    key = f"tk_{affiliate}_{secrets.token_urlsafe(24)}"
    return key, f"{affiliate}:sha256:{key_digest(key)}"
