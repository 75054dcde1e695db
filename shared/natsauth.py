"""NATS authorization: the services' user, and one user per affiliate that can reach only
its own team queues.

An affiliate user may fetch from and ack on its own teams' durable pull consumers
(`team-<affiliate>-*` on VOC_ROUTED), read their info, and receive replies only on
its own inbox prefix; everything else is denied: other affiliates' subjects and
consumers, creating consumers, and the shared `_INBOX.>` (where it could read
everyone's replies). Clients of an affiliate user must set the inbox prefix
(nats-py: `nats.connect(..., inbox_prefix=inbox_prefix(affiliate))`).

`moksori nats-auth` writes this as a nats-server config include; deploy/README.md
describes the Kubernetes secret.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from shared.bus import alert_durable, team_durable
from shared.events import AFFILIATES, TEAMS

SERVICES_USER = "moksori-services"


def inbox_prefix(affiliate: str) -> str:
    return f"_INBOX_team_{affiliate}"


def affiliate_permissions(affiliate: str) -> dict:
    """NATS wildcards match whole tokens only, so each team's durable is listed."""
    allow = ["$JS.API.INFO"]
    queues = [("VOC_ROUTED", team_durable(affiliate, team)) for team in TEAMS]
    for stream, durable in [*queues, ("VOC_ALERTS", alert_durable(affiliate))]:
        allow += [f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",  # fetch
                  f"$JS.API.CONSUMER.INFO.{stream}.{durable}",      # bind, lag
                  f"$JS.ACK.{stream}.{durable}.>",                  # ack, nak, in-progress
                  f"$JS.ACK.*.*.{stream}.{durable}.>"]              # the same, v2 ack subjects
    return {"publish": {"allow": allow}, "subscribe": {"allow": [f"{inbox_prefix(affiliate)}.>"]}}


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str


def generate_credentials() -> dict[str, Credentials]:
    users = {"services": Credentials(SERVICES_USER, secrets.token_urlsafe(18))}
    for a in AFFILIATES:
        users[a] = Credentials(f"team-{a}", secrets.token_urlsafe(18))
    return users


def server_config(creds: dict[str, Credentials]) -> str:
    """An `authorization { users = [...] }` block for nats-server (JSON is valid NATS config)."""
    users = [{"user": creds["services"].user, "password": creds["services"].password,
              "permissions": {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}}}]
    for a in AFFILIATES:
        users.append({"user": creds[a].user, "password": creds[a].password, "permissions": affiliate_permissions(a)})
    return "authorization " + json.dumps({"users": users}, indent=2) + "\n"


def url_with(url: str, cred: Credentials) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{cred.user}:{cred.password}@{rest}"
