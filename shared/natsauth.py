"""NATS authorization: the services' user, one user per affiliate that reaches only its own
queues and subjects, and one user per outside system with only what that system does.

- An affiliate user (`team-<affiliate>`) may fetch from and ack on its own durable pull consumers
  (its teams' queues on VOC_ROUTED, its supervisors' alerts and escalations; the group user also
  the consumer-protection office's, which see every affiliate), read their info, and publish case
  commands on its own subjects (`voc.cmd.team.<affiliate>.case.*`, see bus.team_command_subject).
- `ingress-stt` may publish live calls on `voc.ingress.call.*`.
- each partner channel system (`partner-<name>`, one user per partner) may publish VOCs only on its
  own subject, `voc.ingress.voc.<name>`; intake takes an event there only from a `ce-source` of that
  name (`events.partner_of`), so a partner can neither pass as another nor use up another's event
  ids (which would have its VOCs dropped as duplicates).
- `card-system` and `bank-system` may fetch the action requests meant for them (card block,
  지급정지); `notices` the customer notices, and it may publish the customers' survey answers
  (`SubmitFeedback` on `voc.cmd.feedback.submit`); `points-platform` the rewards of adopted suggestions.

Everything else is denied: other affiliates' subjects and consumers, creating consumers, the key-value
buckets (live screening's LIVE_CONTEXT: `$KV.LIVE_CONTEXT.>` and the KV_LIVE_CONTEXT stream's API, which only
the services' user, allowed every subject, uses), and the shared `_INBOX.>` (where it could read everyone's
replies). Each of these users receives replies only on its own inbox prefix, which its client must set
(nats-py: `nats.connect(..., inbox_prefix=inbox_prefix(name))`).

`moksori nats-auth` writes this as a nats-server config include, with bcrypt hashes for passwords,
and the passwords themselves in a credentials file for the clients; deploy/README.md describes the
Kubernetes secrets.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from shared.bus import alert_durable, escalation_durable, team_command_subject, team_durable
from shared.events import AFFILIATES, CASE_COMMANDS, TEAMS, partner_subject

SERVICES_USER = "moksori-services"
# outside systems: what each may publish, and which durable consumers it may read
OUTSIDE_SYSTEMS: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    "ingress-stt": (("voc.ingress.call.segment", "voc.ingress.call.ended"), ()),
    "card-system": ((), (("VOC_ACTIONS", "actions-card-system"),)),
    "bank-system": ((), (("VOC_ACTIONS", "actions-bank-system"),)),
    # the notices system also sends back the answers customers give in the message (알림톡 buttons): a
    # SubmitFeedback carries the survey's signed token, which feedback checks
    "notices": (("voc.cmd.feedback.submit",), (("VOC_NOTICES", "notices-delivery"),)),
    "points-platform": ((), (("VOC_FEEDBACK", "rewards-points-platform"),)),
}

PARTNER = "partner:"  # a partner's key in the credentials (partner:card-pg); its user is partner-card-pg


def partner_key(name: str) -> str:
    partner_subject(name)  # the name must make a valid subject token
    return PARTNER + name


def inbox_prefix(name: str) -> str:
    """An affiliate's (card), an outside system's (ingress-stt) or a partner's (partner:card-pg) own
    reply subjects."""
    if name.startswith(PARTNER):
        return f"_INBOX_partner-{name.removeprefix(PARTNER)}"
    return f"_INBOX_team_{name}" if name in AFFILIATES else f"_INBOX_{name}"


def _reader(stream: str, durable: str) -> list[str]:
    return [f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",  # fetch
            f"$JS.API.CONSUMER.INFO.{stream}.{durable}",      # bind, lag
            f"$JS.ACK.{stream}.{durable}.>",                  # ack, nak, in-progress
            f"$JS.ACK.*.*.{stream}.{durable}.>"]              # the same, v2 ack subjects


def affiliate_permissions(affiliate: str) -> dict:
    """NATS wildcards match whole tokens only, so each team's durable is listed."""
    allow = ["$JS.API.INFO"]
    read = [("VOC_ROUTED", team_durable(affiliate, team)) for team in TEAMS]
    read += [("VOC_ALERTS", alert_durable(affiliate)), ("VOC_ESCALATIONS", escalation_durable(affiliate))]
    if affiliate == "group":  # the consumer-protection office oversees every affiliate
        read += [("VOC_ALERTS", alert_durable(None)), ("VOC_ESCALATIONS", escalation_durable(None))]
    for stream, durable in read:
        allow += _reader(stream, durable)
    allow += [team_command_subject(affiliate, c.SUBJECT) for c in CASE_COMMANDS]
    return {"publish": {"allow": allow}, "subscribe": {"allow": [f"{inbox_prefix(affiliate)}.>"]}}


def outside_permissions(name: str) -> dict:
    """An outside system's (ingress-stt) or a partner's (partner:card-pg)."""
    if name.startswith(PARTNER):
        publishes, reads = (partner_subject(name.removeprefix(PARTNER)),), ()
    else:
        publishes, reads = OUTSIDE_SYSTEMS[name]
    allow = ["$JS.API.INFO", *publishes]
    for stream, durable in reads:
        allow += _reader(stream, durable)
    return {"publish": {"allow": allow}, "subscribe": {"allow": [f"{inbox_prefix(name)}.>"]}}


class RemoveError(ValueError):
    """A partner to remove that cannot be: not in the previous credentials, or also being added."""


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str


def user_names(partners: Iterable[str] = ()) -> dict[str, str]:
    """Every user, by the key `moksori nats-auth` names it with, to its NATS user name."""
    return {"services": SERVICES_USER, **{a: f"team-{a}" for a in AFFILIATES}, **{n: n for n in OUTSIDE_SYSTEMS},
            **{partner_key(p): f"partner-{p}" for p in sorted(set(partners))}}


def generate_credentials(previous: dict[str, Credentials] | None = None, rotate: Iterable[str] = (),
                         partners: Iterable[str] = (), remove: Iterable[str] = ()) -> dict[str, Credentials]:
    """A new password for every user; or, given the `previous` credentials, the same passwords but
    for the users in `rotate` and any user `previous` lacks (an affiliate, outside system or partner
    added since): one user's password changes without cutting every other system off at once.
    The partners are `partners` and those `previous` has, less those in `remove` (a partner whose
    contract ended: its user is gone after the reload, and its connection closed)."""
    previous = previous or {}
    had = {k.removeprefix(PARTNER) for k in previous if k.startswith(PARTNER)}
    remove = set(remove)
    unknown = sorted(remove - had)
    if unknown:
        raise RemoveError(f"no partner {unknown} in the previous credentials; their partners are {sorted(had)}")
    kept = [*partners, *had]
    both = sorted(remove & set(partners))
    if both:
        raise RemoveError(f"partner {both} both added (--partner) and removed")
    names = user_names([p for p in kept if p not in remove])
    rotate = set(rotate)
    unknown = sorted(rotate - names.keys())
    if unknown:
        raise ValueError(f"unknown user(s) {unknown}; the users are {sorted(names)}")
    return {key: previous[key] if key in previous and key not in rotate and previous[key].user == user
            else Credentials(user, secrets.token_urlsafe(18)) for key, user in names.items()}


def load_credentials(path: Path) -> dict[str, Credentials]:
    """What `moksori nats-auth --credentials` wrote: {"<key>": {"user": ..., "password": ...}, ...}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read it as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object of users, as `moksori nats-auth --credentials` writes")
    out = {}
    for key, value in data.items():
        if not (isinstance(value, dict) and value.keys() == {"user", "password"}
                and all(isinstance(v, str) and v for v in value.values())):
            raise ValueError(f"{path}: {key!r} must be {{\"user\": ..., \"password\": ...}} with non-empty strings")
        if key.startswith(PARTNER):
            try:
                partner_key(key.removeprefix(PARTNER))
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
        out[key] = Credentials(value["user"], value["password"])
    return out


BCRYPT_COST = 11  # nats-server's own tool (`nats server passwd`) uses 11


def password_hash(password: str, cost: int = BCRYPT_COST) -> str:
    """What nats-server keeps for a password: its bcrypt hash, which the server checks a client's
    password against. The servers' config, and the Secret it is mounted from, then hold no password a
    client could connect with (the credentials file, in the secret store, has the passwords)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()


def server_config(creds: dict[str, Credentials], cost: int = BCRYPT_COST) -> str:
    """An `authorization { users = [...] }` block for nats-server (JSON is valid NATS config), with
    bcrypt hashes for passwords. `cost` below 11 is for local runs only (each hash is 2^cost rounds)."""
    def user(key: str, permissions: dict) -> dict:
        return {"user": creds[key].user, "password": password_hash(creds[key].password, cost),
                "permissions": permissions}

    users = [user("services", {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}})]
    users += [user(a, affiliate_permissions(a)) for a in AFFILIATES]
    users += [user(name, outside_permissions(name))
              for name in [*OUTSIDE_SYSTEMS, *sorted(k for k in creds if k.startswith(PARTNER))]]
    return "authorization " + json.dumps({"users": users}, indent=2) + "\n"


def url_with(url: str, cred: Credentials) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{cred.user}:{cred.password}@{rest}"
