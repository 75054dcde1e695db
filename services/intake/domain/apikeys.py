"""Channel API keys and per-key rate limits (pure).

A key looks like `mk_<key id>_<secret>`. Only sha256(secret) is stored: the secret
has 192 bits of entropy, so a slow hash buys nothing. Each key names the channels
it may submit for, its roles (`submit`, `read`, `reveal`) and the affiliates whose cases it may
reveal (`group` is the holding company, an affiliate like the others, for its own cases such as group points;
`all`, given alone, is the group's consumer-protection office, which sees every case)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.events import AFFILIATES

ROLES = ("submit", "read", "reveal")
# the scope of the group's consumer-protection office: every case, also one not routed yet. Not `group`: that
# is the holding company, an affiliate that has cases of its own (group points), which its teams reveal
ALL = "all"
GROUP = "group"  # the holding company: an affiliate, its own cases only
SCOPES = (*AFFILIATES, ALL)  # what a key's affiliates may hold


class InvalidApiKey(ValueError):
    pass


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    secret_hash: str
    channels: tuple[str, ...]
    roles: tuple[str, ...]
    rate_per_s: float
    burst: int
    # the affiliates whose cases it may reveal, or `all` (the office: every case); none for a key from before
    # the scope (migration 009), which then reveals nothing
    affiliates: tuple[str, ...] = ()

    def allows_channel(self, channel: str) -> bool:
        return channel in self.channels

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def sees_affiliate(self, affiliate: str | None) -> bool:
        """Whether a case that `affiliate` has is in the key's scope. Affiliates see only their own
        cases, the holding company (`group`) too; the office (`all`) sees every case, also one whose
        affiliate intake does not know (None: not routed yet, or routed before intake kept it), which no
        affiliate's key sees: the channel's affiliate is only a hint, and routing may give the case to another."""
        return ALL in self.affiliates or (affiliate is not None and affiliate in self.affiliates)


KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


# what intake records as submitted_by for live calls and (by default) imports: a key of that name could
# read those cases through the status API (a `read` key sees the cases submitted under its name)
RESERVED_KEY_NAMES = frozenset({"stt", "bulk-import"})


def check_name(name: str) -> str:
    """A key's name is its channel system's, and scopes its Idempotency-Keys (`scoped_key`), so it
    may not hold the separator ':'."""
    if not KEY_NAME.fullmatch(name):
        raise ValueError(f"key name {name!r}: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or "
                         "digit (e.g. card-app-backend)")
    if name in RESERVED_KEY_NAMES:
        raise ValueError(f"key name {name!r} is reserved (intake's own submitters: {sorted(RESERVED_KEY_NAMES)})")
    return name


def check_affiliates(affiliates: Iterable[str], roles: Iterable[str] = ()) -> tuple[str, ...]:
    """A key's affiliate scope, in order without repeats; ValueError naming the problem and what to
    give instead. With the `reveal` role among `roles` the scope is required (a key without one reveals
    nothing). `all` (the office: every case) is given alone; `group` is the holding company's own cases."""
    scope = tuple(dict.fromkeys(affiliates))
    unknown = [a for a in scope if a not in SCOPES]
    if unknown:
        raise ValueError(f"unknown affiliate(s) {unknown}; choose from {', '.join(AFFILIATES)} "
                         f"({GROUP}: the holding company's own cases, e.g. group points), or give {ALL} alone "
                         "for the group's consumer-protection office, which sees every case")
    if ALL in scope and len(scope) > 1:
        others = ", ".join(a for a in scope if a != ALL)
        raise ValueError(f"{ALL} already sees every case: give it alone (the group's consumer-protection office), "
                         f"or only {others} for a key that may reveal just those affiliates' cases")
    if "reveal" in roles and not scope:
        raise ValueError("a key with the reveal role needs the affiliates whose cases it may reveal, e.g. card "
                         f"(a privacy officer of the card company), {GROUP} (the holding company's own cases, e.g. "
                         f"group points), or {ALL} for the group's consumer-protection office (every case)")
    return scope


def scoped_key(name: str, idempotency_key: str | None) -> str | None:
    """An HTTP channel system's Idempotency-Key as stored: its own, under its key's name. Two channel
    systems may use the same key for different VOCs, and none can take a key that a partner on
    NATS (`<partner>:<event id>`), a live call (`call:…`) or a bulk import (`import:…`) will use."""
    return None if idempotency_key is None else f"http:{name}:{idempotency_key}"


def new_key() -> tuple[str, str, str]:
    """(key id, secret hash, the full key to hand out once)."""
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(24)
    return key_id, hash_secret(secret), f"mk_{key_id}_{secret}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(presented: str) -> tuple[str, str]:
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != "mk" or not key_id or not secret:
        raise InvalidApiKey("malformed API key")
    return key_id, secret


def verify(key: ApiKey | None, secret: str) -> bool:
    return key is not None and hmac.compare_digest(key.secret_hash, hash_secret(secret))


@dataclass
class TokenBucket:
    rate: float
    burst: int
    tokens: float = field(default=-1.0)
    stamp: float = field(default_factory=time.monotonic)

    def take(self, now: float | None = None) -> float:
        """0 if allowed, else the seconds to wait before a retry can succeed."""
        now = time.monotonic() if now is None else now
        if self.tokens < 0:
            self.tokens = float(self.burst)
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate
