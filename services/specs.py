"""Machine-readable API specs, generated from the code so they cannot drift:

- AsyncAPI 3.0 for the bus: every JetStream subject, the event models as JSON
  Schema, the CloudEvents headers, and which service sends or receives what;
- OpenAPI for each service's HTTP API (FastAPI's own output).

`moksori specs` writes them to docs/specs/; a unit test fails when they are stale.
"""

from __future__ import annotations

import json
from pathlib import Path

from shared.bus import STREAMS, all_consumers
from shared.events import (
    AcknowledgeCase, AlertRaised, CallEnded, CallSegmentReceived, CaseAcknowledged, CaseResolved, CaseRouted,
    CustomerNoticeRequested, FeedbackSubmitted, Message, ResolveCase, SttSegment, SubmitFeedback, SurveyRequested,
    VocClassified, VocReceived, VocSubmitted,
)

SPEC_DIR = Path(__file__).resolve().parent.parent / "docs" / "specs"

CHANNELS: dict[str, tuple[str, type[Message], dict[str, str]]] = {
    "vocReceived": ("voc.received", VocReceived, {}),
    "vocClassified": ("voc.classified", VocClassified, {}),
    "caseRouted": ("voc.routed.{affiliate}.{team}", CaseRouted,
                   {"affiliate": "bank, card, securities, insurance or group",
                    "team": "general, consumer_protection, fraud_response, special_handling or suggestions_review"}),
    "caseAcknowledged": ("voc.case.acknowledged", CaseAcknowledged, {}),
    "caseResolved": ("voc.case.resolved", CaseResolved, {}),
    "surveyRequested": ("voc.feedback.survey_requested", SurveyRequested, {}),
    "feedbackSubmitted": ("voc.feedback.submitted", FeedbackSubmitted, {}),
    "alertRaised": ("voc.alert.{affiliate}.{reason}", AlertRaised, {"affiliate": "the affiliate concerned, or group", "reason": "a flag, critical, emotion, sla_breach, service_recovery"}),
    "acknowledgeCase": ("voc.cmd.case.acknowledge", AcknowledgeCase, {}),
    "resolveCase": ("voc.cmd.case.resolve", ResolveCase, {}),
    "submitFeedback": ("voc.cmd.feedback.submit", SubmitFeedback, {}),
    "customerNotice": ("voc.notice.{notice}", CustomerNoticeRequested,
                       {"notice": "receipt, acknowledged, extended or resolved"}),
    "vocSubmitted": ("voc.ingress.voc", VocSubmitted, {}),
    "sttSegment": ("voc.ingress.call.segment", SttSegment, {}),
    "callEnded": ("voc.ingress.call.ended", CallEnded, {}),
    "callSegmentReceived": ("voc.call.segment", CallSegmentReceived, {}),
}

# (actor, action, channel)
OPERATIONS = (
    ("intake", "send", "vocReceived"),
    ("classifier", "receive", "vocReceived"), ("classifier", "send", "vocClassified"),
    ("classifier", "send", "alertRaised"),
    ("routing", "receive", "vocClassified"), ("routing", "send", "caseRouted"),
    ("routing", "receive", "acknowledgeCase"), ("routing", "receive", "resolveCase"),
    ("routing", "send", "caseAcknowledged"), ("routing", "send", "caseResolved"),
    ("feedback", "receive", "caseResolved"), ("feedback", "send", "surveyRequested"),
    ("feedback", "receive", "submitFeedback"), ("feedback", "send", "feedbackSubmitted"),
    ("intake", "receive", "vocClassified"), ("intake", "receive", "caseRouted"),
    ("intake", "receive", "caseAcknowledged"), ("intake", "receive", "caseResolved"),
    ("intake", "receive", "surveyRequested"), ("intake", "receive", "feedbackSubmitted"),
    ("affiliateTeam", "receive", "caseRouted"), ("affiliateTeam", "send", "acknowledgeCase"),
    ("affiliateTeam", "send", "resolveCase"), ("channel", "send", "submitFeedback"),
    ("intake", "send", "customerNotice"), ("channel", "receive", "customerNotice"),
    ("partner", "send", "vocSubmitted"), ("intake", "receive", "vocSubmitted"),
    ("sttSystem", "send", "sttSegment"), ("sttSystem", "send", "callEnded"),
    ("intake", "receive", "sttSegment"), ("intake", "receive", "callEnded"),
    ("intake", "send", "callSegmentReceived"), ("classifier", "receive", "callSegmentReceived"),
    ("intake", "receive", "alertRaised"),
)

CE_HEADERS = {
    "type": "object",
    "required": ["ce-specversion", "ce-id", "ce-type", "ce-source", "ce-time", "Nats-Msg-Id"],
    "properties": {
        "ce-specversion": {"const": "1.0"},
        "ce-id": {"type": "string", "description": "unique event id; consumers deduplicate on it"},
        "ce-type": {"type": "string"},
        "ce-source": {"type": "string", "examples": ["moksori/intake"]},
        "ce-time": {"type": "string", "format": "date-time"},
        "ce-subject": {"type": "string", "description": "the case id"},
        "Nats-Msg-Id": {"type": "string", "description": "equals ce-id: JetStream drops duplicate publishes"},
    },
}


def asyncapi() -> dict:
    schemas: dict = {}
    messages = {}
    for name, (_, model, _) in CHANNELS.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        messages[model.__name__] = {
            "name": model.__name__, "title": model.__name__, "contentType": "application/json",
            "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else model.TYPE,
            "headers": {**CE_HEADERS, "properties": {**CE_HEADERS["properties"],
                                                      "ce-type": {"const": model.TYPE}}},
            "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
        }
    channels = {}
    for name, (address, model, params) in CHANNELS.items():
        stream = next(s for s in STREAMS if any(_covers(p, address) for p in s.subjects))
        durables = sorted({c.durable for c in all_consumers() if c.stream == stream.name
                           and _covers(c.filter_subject, address) and not c.durable.startswith("team-")})
        channels[name] = {
            "address": address,
            "description": f"JetStream stream {stream.name} ({stream.retention.value} retention, "
                           f"{stream.max_age_days} days). Durable pull consumers: {', '.join(durables) or 'teams'}.",
            "messages": {model.__name__: {"$ref": f"#/components/messages/{model.__name__}"}},
            **({"parameters": {k: {"description": v} for k, v in params.items()}} if params else {}),
        }
    operations = {
        f"{actor}{action.title()}{ch[0].upper()}{ch[1:]}": {
            "action": action, "channel": {"$ref": f"#/channels/{ch}"},
            "summary": f"{actor} {action}s {CHANNELS[ch][1].__name__}",
        } for actor, action, ch in OPERATIONS
    }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Moksori event bus", "version": "1.0.0",
                 "description": "CloudEvents 1.0 in binary mode on NATS JetStream: ce-* headers, JSON body."},
        "defaultContentType": "application/json",
        "servers": {"local": {"host": "127.0.0.1:4222", "protocol": "nats",
                              "description": "make run starts an embedded nats-server; see NATS_URL"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _covers(pattern: str, subject: str) -> bool:
    """Does a NATS filter cover a subject template? ({x} counts as one token)."""
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i] and not s[i].startswith("{")):
            return False
    return len(p) == len(s)


def openapi(service: str) -> dict:
    from importlib import import_module

    entry = import_module(f"services.{service}.entrypoint")
    settings_cls = next(v for k, v in vars(import_module(f"services.{service}.settings")).items()
                        if k.endswith("Settings") and k != "ServiceSettings")
    from shared.pii_crypto import PiiCipher

    dummy = {"pii_keys": PiiCipher.generate_spec(), "case_access_key": "x" * 32, "survey_secret": "x" * 32,
             "team_keys": "group:" + "x" * 32}
    fields = settings_cls.model_fields
    settings = settings_cls(**{k: v for k, v in dummy.items() if k in fields})
    return entry.build(settings).http.openapi()


def write_all(directory: Path = SPEC_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    docs = {"asyncapi.json": asyncapi()}
    for svc in ("intake", "classifier", "routing", "feedback"):
        docs[f"openapi-{svc}.json"] = openapi(svc)
    written = []
    for name, doc in docs.items():
        path = directory / name
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
