"""The edge of intake: body size and encoding before parsing, then API key, role,
channel and rate limit. A rejected request stores nothing and publishes nothing."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from services.intake.adapters.apikeys import KeyStore
from services.intake.domain.apikeys import ApiKey, InvalidApiKey, TokenBucket, parse, verify

MAX_BODY_BYTES = 256 * 1024


class BodyGuard:
    """ASGI middleware: 413 over the size limit (declared or streamed), 400 for
    bytes that are not UTF-8. Runs before FastAPI reads the body."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            return await _reply(send, 413, f"body is {int(declared)} bytes; the limit is {self.max_bytes}")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await _reply(send, 413, f"body is over the {self.max_bytes}-byte limit")
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        try:
            if ctype != b"message/rfc822":  # raw mail declares its own charsets
                body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return await _reply(send, 400, f"body is not valid UTF-8 (byte {exc.start})", field="body")
        return await self.app(scope, replaying(body, receive), send)


def replaying(body: bytes, receive):
    """An ASGI `receive` that hands the already-read body over once, then the connection's own
    messages (a disconnect)."""
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _reply(send, status: int, message: str, field: str | None = None) -> None:
    payload: dict = {"error": message}
    if field:
        payload["details"] = [{"field": field, "error": message}]
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


class RateLimiter:
    """Per key, per replica: each replica enforces the key's rate on its own share."""

    def __init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, key: ApiKey) -> float:
        bucket = self._buckets.get(key.key_id)
        if bucket is None or bucket.rate != key.rate_per_s:
            bucket = self._buckets[key.key_id] = TokenBucket(key.rate_per_s, key.burst)
        return bucket.take()


async def _authenticate(request: Request, x_api_key: str | None, authorization: str | None) -> ApiKey | None:
    presented = x_api_key or (authorization[7:] if authorization and authorization.startswith("Bearer ") else None)
    if not presented:
        return None
    try:
        key_id, secret = parse(presented)
    except InvalidApiKey:
        raise HTTPException(401, "malformed API key", headers={"WWW-Authenticate": "Bearer"}) from None
    store: KeyStore = request.app.state.keys
    key = await store.get(key_id)
    if not verify(key, secret):
        raise HTTPException(401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    wait = request.app.state.limiter.check(key)
    if wait > 0:
        raise HTTPException(429, f"rate limit of {key.rate_per_s:g}/s for {key.name} exceeded",
                            headers={"Retry-After": str(max(1, round(wait + 0.5)))})
    return key


async def optional_key(request: Request, x_api_key: Annotated[str | None, Header()] = None,
                       authorization: Annotated[str | None, Header()] = None) -> ApiKey | None:
    return await _authenticate(request, x_api_key, authorization)


async def submitter(key: Annotated[ApiKey | None, Depends(optional_key)]) -> ApiKey:
    if key is None:
        raise HTTPException(401, "an API key is required (X-Api-Key or Authorization: Bearer)",
                            headers={"WWW-Authenticate": "Bearer"})
    if not key.has_role("submit"):
        raise HTTPException(403, f"key {key.name} may not submit")
    return key
