"""Loaded by schemathesis (SCHEMATHESIS_HOOKS): raw e-mail bodies are bytes on the wire."""

import schemathesis
from schemathesis.transport.serialization import serialize_binary


@schemathesis.serializer("message/rfc822")
def rfc822(ctx, value):
    return {"data": serialize_binary(value)}
