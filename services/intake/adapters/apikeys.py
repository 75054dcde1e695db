"""API keys in Postgres, cached per process for a short time so revocation takes effect quickly."""

from __future__ import annotations

import time

import asyncpg

from services.intake.domain.apikeys import ApiKey

INSERT_KEY = """
INSERT INTO intake.api_keys (key_id, name, secret_hash, channels, roles, rate_per_s, burst, affiliates)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"""
GET_KEY = """
SELECT key_id, name, secret_hash, channels, roles, rate_per_s, burst, affiliates
FROM intake.api_keys WHERE key_id = $1 AND revoked_at IS NULL"""
LIST_KEYS = """
SELECT key_id, name, channels, roles, affiliates, rate_per_s, burst, created_at, revoked_at
FROM intake.api_keys ORDER BY name"""
REVOKE_KEY = "UPDATE intake.api_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING key_id"


async def create_key(conn: asyncpg.Connection, name: str, channels: list[str], roles: list[str],
                     rate_per_s: float, burst: int, *, replace: bool = False,
                     affiliates: list[str] | tuple[str, ...] = ()) -> str:
    """Stores a new key and returns it in full; it is never shown again. `affiliates`: whose cases it
    may reveal (domain.apikeys.check_affiliates); a reveal key without them reveals nothing, as a key
    from before the scope (`moksori keys create` requires them with the reveal role)."""
    from services.intake.domain.apikeys import check_affiliates, check_name, new_key

    check_name(name)
    scope = check_affiliates(affiliates)
    key_id, secret_hash, full = new_key()
    async with conn.transaction():
        if replace:
            await conn.execute(REVOKE_KEY, name)
        await conn.execute(INSERT_KEY, key_id, name, secret_hash, channels, roles, rate_per_s, burst, list(scope))
    return full


class KeyStore:
    def __init__(self, pool: asyncpg.Pool, ttl_s: float = 30.0) -> None:
        self.pool, self.ttl_s = pool, ttl_s
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}

    async def get(self, key_id: str) -> ApiKey | None:
        now = time.monotonic()
        hit = self._cache.get(key_id)
        if hit and now - hit[0] < self.ttl_s:
            return hit[1]
        row = await self.pool.fetchrow(GET_KEY, key_id)
        key = ApiKey(row["key_id"], row["name"], row["secret_hash"], tuple(row["channels"]), tuple(row["roles"]),
                     row["rate_per_s"], row["burst"], tuple(row["affiliates"])) if row else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key_id] = (now, key)
        return key
