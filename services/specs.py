"""Machine-readable API specs, generated from the code so they cannot drift:

- AsyncAPI 3.0 for the bus: every JetStream subject, the event models as JSON
  Schema, the CloudEvents headers, and which service sends or receives what;
- OpenAPI for each service's HTTP API (FastAPI's own output).

`moksori specs` writes them to docs/specs/; a unit test fails when they are stale.
"""

from __future__ import annotations

import json
from pathlib import Path

import shared.events as events
from shared.bus import STREAMS, all_consumers, subject_matches, team_command_subject
from shared.events import AFFILIATES, CASE_COMMANDS, TEAMS, Message

SPEC_DIR = Path(__file__).resolve().parent.parent / "docs" / "specs"

# what each placeholder of a subject stands for
PARAMETERS = {
    "affiliate": ", ".join(AFFILIATES) + " (group: the consumer-protection office)",
    "team": ", ".join(TEAMS),
    "reason": "regulator, media, legal, abusive, critical, emotion, sla_warning, sla_breach, service_recovery or "
              "dead_letter",
    "partner": "the partner channel system's name (moksori nats-auth --partner <name>: its NATS user may publish "
               "only here); the event's ce-source must be that name or start with it and '/'",
    "notice": ", ".join(events.CustomerNoticeRequested.model_fields["notice"].annotation.__args__),
}

# who publishes each message; who reads it comes from the durable consumers (shared/bus.py)
SENDERS: dict[str, tuple[str, ...]] = {
    "VocSubmitted": ("partner",), "SttSegment": ("sttSystem",), "CallEnded": ("sttSystem",),
    "VocReceived": ("intake",), "CallSegmentReceived": ("intake",), "CallSegmentsReceived": ("intake",),
    "VocClassified": ("classifier",),
    "CardBlockRequested": ("classifier",), "AccountFreezeRequested": ("classifier",),
    "CaseRouted": ("routing",), "CaseEscalated": ("routing",),
    **{name: ("routing",) for name in ("CaseAcknowledged", "CaseResolved", "CaseInfoRequested", "CaseInfoProvided",
                                       "CaseExtended", "CaseTransferred", "CaseReopened", "CaseReclassified",
                                       "SuggestionReviewed")},
    **{c.__name__: ("moksoriServices",) for c in CASE_COMMANDS},
    "SurveyRequested": ("feedback",), "FeedbackSubmitted": ("feedback",), "RewardGranted": ("feedback",),
    "SubmitFeedback": ("channel",),
    "CustomerNoticeRequested": ("intake", "routing", "feedback"),
    "AlertRaised": ("classifier", "routing", "feedback", "everyConsumer (dead_letter)"),
}

# the readers of durable consumers named after a service or an outside system
READERS = (("team-", "affiliateTeam"), ("alerts-", "supervisorsAndOffice"), ("escalations-", "supervisorsAndOffice"),
           ("actions-card", "cardSystem"), ("actions-bank", "bankSystem"), ("notices-", "channel"),
           ("rewards-points", "pointsPlatform"),
           ("intake", "intake"), ("classifier", "classifier"), ("routing", "routing"), ("feedback", "feedback"))


def bus_messages() -> list[type[Message]]:
    """Every message on the bus: each frozen model in shared/events.py with a type and a subject."""
    return [m for m in vars(events).values() if isinstance(m, type) and issubclass(m, Message)
            and isinstance(getattr(m, "TYPE", None), str) and isinstance(getattr(m, "SUBJECT", None), str)]


def _channel_name(model: type[Message], team: bool = False) -> str:
    name = model.__name__[0].lower() + model.__name__[1:]
    return f"team{model.__name__}" if team else name


def channels() -> dict[str, tuple[str, type[Message]]]:
    """Channel name -> (address, message): one per message, and each case command also on the teams' own
    subjects (voc.cmd.team.{affiliate}.case.*)."""
    out = {_channel_name(m): (m.SUBJECT, m) for m in bus_messages()}
    for c in CASE_COMMANDS:
        out[_channel_name(c, team=True)] = (team_command_subject("{affiliate}", c.SUBJECT), c)
    return out


def operations(chans: dict[str, tuple[str, type[Message]]]) -> list[tuple[str, str, str]]:
    """(actor, action, channel): the senders declared above, the readers from the durable consumers."""
    ops = []
    for name, (address, model) in chans.items():
        senders = ("affiliateTeam",) if name.startswith("team") and model in CASE_COMMANDS else SENDERS[model.__name__]
        ops += [(actor, "send", name) for actor in senders]
        readers = {next((who for prefix, who in READERS if c.durable.startswith(prefix)), c.durable)
                   for c in all_consumers() if subject_matches(c.filter_subject, address)}
        ops += [(actor, "receive", name) for actor in sorted(readers)]
    return ops


CE_HEADERS = {
    "type": "object",
    "required": ["ce-specversion", "ce-id", "ce-type", "ce-source", "ce-time"],
    "properties": {
        "ce-specversion": {"const": "1.0"},
        "ce-id": {"type": "string", "description": "unique event id within its ce-source; consumers deduplicate "
                                                   "on ce-source + ce-id"},
        "ce-type": {"type": "string"},
        "ce-source": {"type": "string", "examples": ["moksori/intake"]},
        "ce-time": {"type": "string", "format": "date-time"},
        "ce-subject": {"type": "string", "description": "the case id"},
        "Nats-Msg-Id": {"type": "string", "description": "ce-id on the services' own events: JetStream drops a "
                                                         "duplicate publish. Channel systems leave it out: the "
                                                         "duplicate window of VOC_INGRESS is shared by every "
                                                         "publisher, so another could take an id first; intake "
                                                         "drops a re-published event itself (ce-source + ce-id)"},
    },
}


def asyncapi() -> dict:
    schemas: dict = {}
    messages = {}
    chans = channels()
    for model in bus_messages():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        if model.TOLERANT:
            # events only gain optional fields, and readers ignore fields they do not know (cloudevents.decode):
            # the contract says so, so a reader built from it takes a newer producer's events too
            schema.pop("additionalProperties", None)
            schema["description"] = (schema.get("description", "") + "\n\n" if schema.get("description") else "") + (
                "Open to optional fields added later: readers ignore fields they do not know.")
        schemas[model.__name__] = schema
        messages[model.__name__] = {
            "name": model.__name__, "title": model.__name__, "contentType": "application/json",
            "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else model.TYPE,
            "headers": {**CE_HEADERS, "properties": {**CE_HEADERS["properties"],
                                                      "ce-type": {"const": model.TYPE}}},
            "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
        }
    channel_docs = {}
    for name, (address, model) in chans.items():
        stream = next(s for s in STREAMS if any(subject_matches(p, address) for p in s.subjects))
        durables = sorted({c.durable for c in all_consumers() if c.stream == stream.name
                           and subject_matches(c.filter_subject, address) and not c.durable.startswith("team-")})
        params = [p.strip("{}") for p in address.split(".") if p.startswith("{")]
        channel_docs[name] = {
            "address": address,
            "description": f"JetStream stream {stream.name} ({stream.retention.value} retention, "
                           f"{stream.max_age_days} day{'s' if stream.max_age_days != 1 else ''}"
                           + (f", {stream.budget()}" if stream.max_bytes else "")
                           + f"). Durable pull consumers: {', '.join(durables) or 'teams'}.",
            "messages": {model.__name__: {"$ref": f"#/components/messages/{model.__name__}"}},
            **({"parameters": {k: {"description": PARAMETERS[k]} for k in params}} if params else {}),
        }
    operation_docs = {
        f"{actor.split()[0]}{action.title()}{ch[0].upper()}{ch[1:]}": {
            "action": action, "channel": {"$ref": f"#/channels/{ch}"},
            "summary": f"{actor} {action}s {chans[ch][1].__name__}",
        } for actor, action, ch in operations(chans)
    }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Moksori event bus", "version": "1.0.0",
                 "description": "CloudEvents 1.0 in binary mode on NATS JetStream: ce-* headers, JSON body."},
        "defaultContentType": "application/json",
        "servers": {"local": {"host": "127.0.0.1:4222", "protocol": "nats",
                              "description": "make run starts an embedded nats-server; see NATS_URL"}},
        "channels": channel_docs,
        "operations": operation_docs,
        "components": {"messages": messages, "schemas": schemas},
    }


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
