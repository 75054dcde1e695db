"""The hot route's fast path: POST /v1/voc answered without FastAPI's routing, dependency
solving and response plumbing, which took about a third of intake's CPU per VOC in the
pipeline benchmark (bench/README.md).

Only the ordinary request is taken here: a JSON body that is a valid `VocSubmission`, an
Idempotency-Key within its length, and an API key that verifies, has the submit role and is
within its rate. Anything else goes on to the FastAPI route with the same bytes, so every
refusal (401, 403, 422, 429) is the route's own answer, in the route's own words; the route
stays the documented one (OpenAPI). What happens to an accepted VOC is the route's own code
(`answer_submission`)."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request

from services.intake.domain.apikeys import ApiKey, InvalidApiKey, parse, verify
from services.intake.handlers.guard import replaying
from services.intake.handlers.http import answer_submission
from shared.events import VocSubmission
from shared.db import MAYBE_STORAGE_DOWN
from shared.runtime import MAX_IDEMPOTENCY_KEY, storage_down
from shared.telemetry import TraceRequests

PATH = "/v1/voc"


class FastSubmit:
    """ASGI middleware, inside BodyGuard (which has already bounded and UTF-8-checked the body)."""

    def __init__(self, app) -> None:
        self.app = app
        self._traced = TraceRequests(self._answer)  # the same server span the route gets

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        replay = replaying(body, receive)
        try:
            taken = await _ordinary(scope, body)  # may look the API key up in PostgreSQL
        except MAYBE_STORAGE_DOWN as exc:  # as the route's key check would be answered (else re-raised)
            return await (await storage_down(Request(scope, replay), exc))(scope, replay, send)
        if taken is None:
            return await self.app(scope, replay, send)
        scope = {**scope, "moksori.submission": taken}
        return await self._traced(scope, replay, send)

    async def _answer(self, scope, receive, send):
        body, key, idempotency_key = scope["moksori.submission"]
        try:
            response = await answer_submission(scope["app"], body, key, idempotency_key)
        except MAYBE_STORAGE_DOWN as exc:  # as the app's exception handler answers the route (else re-raised)
            response = await storage_down(Request(scope, receive), exc)
        await response(scope, receive, send)


async def _ordinary(scope, raw: bytes) -> tuple[VocSubmission, ApiKey, str | None] | None:
    """The validated body, the key and the Idempotency-Key when the request is an ordinary one;
    None (nothing spent from the key's rate) when the route must answer it."""
    headers = {}
    for name, value in scope["headers"]:
        if name in (b"content-type", b"x-api-key", b"authorization", b"idempotency-key"):
            headers[name] = value.decode("latin-1")
    if headers.get(b"content-type", "").split(";")[0].strip().lower() != "application/json":
        return None
    idempotency_key = headers.get(b"idempotency-key")
    if idempotency_key is not None and (len(idempotency_key) > MAX_IDEMPOTENCY_KEY or not idempotency_key.strip()):
        return None  # the route refuses it (422): too long, or blank
    try:
        body = VocSubmission.model_validate_json(raw)
    except ValidationError:
        return None
    authorization = headers.get(b"authorization")
    presented = headers.get(b"x-api-key") or (authorization[7:] if authorization and
                                               authorization.startswith("Bearer ") else None)
    if not presented:
        return None
    try:
        key_id, secret = parse(presented)
    except InvalidApiKey:
        return None
    state = scope["app"].state
    key = await state.keys.get(key_id)
    if not verify(key, secret) or not key.has_role("submit") or state.limiter.check(key) > 0:
        return None
    return body, key, idempotency_key
