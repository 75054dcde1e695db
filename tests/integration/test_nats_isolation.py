"""Affiliate isolation on a real nats-server with the generated authorization config:
the card team reads its own queue and nothing of the bank's."""

from __future__ import annotations

import asyncio
import signal
import uuid
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from nats.js import api

from shared.bus import ensure_topology
from shared.cloudevents import encode, envelope_for
from shared.devstack import NatsServer
from shared.events import CaseRouted, partner_subject
from shared.natsauth import generate_credentials, inbox_prefix, partner_key, server_config, url_with

pytestmark = pytest.mark.integration


def routed(affiliate: str) -> CaseRouted:
    now = datetime.now(UTC)
    return CaseRouted(case_id=uuid.uuid4(), tracking_code="VOC-2026-000001", channel="app", affiliate=affiliate,
                      team="general", kind="complaint", topic="card_payment", urgency="normal", text="…",
                      received_at=now)


@pytest.fixture
async def authed(tmp_path: Path):
    creds = generate_credentials(partners=["easypay", "shopmall"])
    conf = tmp_path / "auth.conf"
    conf.write_text(server_config(creds, cost=4))  # cheap hashes here; the rotation test below uses the real cost
    server = NatsServer(tmp_path / "nats", name="iso", extra_args=["-c", str(conf)]).start()
    svc = await nats.connect(url_with(server.url, creds["services"]))
    js = svc.jetstream()
    await ensure_topology(js)
    for affiliate in ("card", "bank"):
        msg = routed(affiliate)
        subject, body, headers = encode(msg, envelope_for(msg, source="moksori/routing"))
        await js.publish(subject, body, headers=headers)
    yield server, creds
    await svc.drain()
    server.stop()


async def connect_as(server, creds, affiliate, errors):
    async def on_error(e):
        errors.append(str(e))

    return await nats.connect(url_with(server.url, creds[affiliate]), inbox_prefix=inbox_prefix(affiliate).encode(),
                              error_cb=on_error, allow_reconnect=False)


async def test_card_team_reads_and_acks_its_own_queue(authed):
    server, creds = authed
    errors: list[str] = []
    nc = await connect_as(server, creds, "card", errors)
    js = nc.jetstream()
    sub = await js.pull_subscribe_bind("team-card-general", stream="VOC_ROUTED")
    msgs = await sub.fetch(1, timeout=5)
    assert msgs[0].subject == "voc.routed.card.general"
    await msgs[0].ack_sync()  # the ack is allowed and confirmed
    info = await js.consumer_info("VOC_ROUTED", "team-card-general")
    assert info.num_ack_pending == 0 and info.num_pending == 0
    assert not errors
    await nc.close()


async def test_card_team_cannot_touch_the_banks_queue_or_others_replies(authed):
    server, creds = authed
    errors: list[str] = []
    nc = await connect_as(server, creds, "card", errors)
    js = nc.jetstream(timeout=1)

    with pytest.raises(Exception):  # fetch from the bank's durable: the pull request is refused
        sub = await js.pull_subscribe_bind("team-bank-general", stream="VOC_ROUTED")
        await sub.fetch(1, timeout=1)
    with pytest.raises(Exception):  # create a consumer of its own on the routed stream
        await js.add_consumer("VOC_ROUTED", api.ConsumerConfig(durable_name="sneaky",
                                                               filter_subject="voc.routed.bank.>"))
    await nc.subscribe("voc.routed.bank.>")  # refused asynchronously by the server
    await nc.subscribe("_INBOX.>")
    await nc.publish("$JS.ACK.VOC_ROUTED.team-bank-general.1.2.2.0.0", b"+ACK")
    await nc.flush()
    await asyncio.sleep(0.5)
    text = " ".join(errors).lower()
    assert "permissions violation" in text
    for denied in ("voc.routed.bank.>", "_inbox.>", "$js.ack.voc_routed.team-bank-general"):
        assert denied in text, errors
    await nc.close()
    # and nothing of the bank's was consumed
    svc = await nats.connect(url_with(server.url, creds["services"]))
    info = await svc.jetstream().consumer_info("VOC_ROUTED", "team-bank-general")
    assert info.num_pending == 1 and info.delivered.consumer_seq == 0
    await svc.close()


async def test_anonymous_clients_are_refused(authed):
    server, _ = authed
    with pytest.raises(Exception):
        await nats.connect(server.url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2)


async def test_teams_publish_commands_only_on_their_own_subjects(authed):
    from shared.bus import team_command_subject
    from shared.events import AcknowledgeCase

    server, creds = authed
    errors: list[str] = []
    nc = await connect_as(server, creds, "card", errors)
    js = nc.jetstream(timeout=2)
    cmd = AcknowledgeCase(case_id=uuid.uuid4(), handler_name="김민지", handler_contact="카드고객보호팀 02-1234-5678")
    subject, body, headers = encode(cmd, envelope_for(cmd, source="team/card"))
    ack = await js.publish(team_command_subject("card", subject), body, headers=headers)
    assert ack.stream == "VOC_COMMANDS"
    for other in (team_command_subject("bank", subject), subject):  # another affiliate's, the services' own
        with pytest.raises(Exception):
            await js.publish(other, body, headers=headers)
    await nc.close()


async def test_supervisors_office_and_outside_systems_read_only_what_is_theirs(authed):
    server, creds = authed
    svc = await nats.connect(url_with(server.url, creds["services"]))
    sjs = svc.jetstream()
    for subject in ("voc.escalation.card.general", "voc.escalation.bank.general", "voc.action.card.block",
                    "voc.action.bank.freeze", "voc.notice.received", "voc.feedback.submitted",
                    "voc.feedback.reward_granted"):
        await sjs.publish(subject, b"{}")

    async def fetch(user, stream, durable):
        nc = await connect_as(server, creds, user, [])
        try:
            sub = await nc.jetstream(timeout=2).pull_subscribe_bind(durable, stream=stream)
            return [m.subject for m in await sub.fetch(5, timeout=2)]
        finally:
            await nc.close()

    assert await fetch("card", "VOC_ESCALATIONS", "escalations-card-supervisors") == ["voc.escalation.card.general"]
    office = await fetch("group", "VOC_ESCALATIONS", "escalations-consumer-protection")
    assert sorted(office) == ["voc.escalation.bank.general", "voc.escalation.card.general"]
    assert await fetch("card-system", "VOC_ACTIONS", "actions-card-system") == ["voc.action.card.block"]
    assert await fetch("bank-system", "VOC_ACTIONS", "actions-bank-system") == ["voc.action.bank.freeze"]
    assert await fetch("notices", "VOC_NOTICES", "notices-delivery") == ["voc.notice.received"]
    # the points platform reads the rewards it pays, not the customers' ratings beside them
    assert await fetch("points-platform", "VOC_FEEDBACK", "rewards-points-platform") == ["voc.feedback.reward_granted"]
    for user, stream, durable in (("card", "VOC_ESCALATIONS", "escalations-bank-supervisors"),
                                  ("card-system", "VOC_ACTIONS", "actions-bank-system"),
                                  ("points-platform", "VOC_FEEDBACK", "feedback-facts"),
                                  ("card", "VOC_ALERTS", "alerts-consumer-protection")):
        with pytest.raises(Exception):
            await fetch(user, stream, durable)

    # the notices system sends back the answers customers give in the message (the README's SubmitFeedback)
    notices = await connect_as(server, creds, "notices", [])
    assert (await notices.jetstream(timeout=2).publish("voc.cmd.feedback.submit", b"{}")).stream == "VOC_COMMANDS"
    for other in ("voc.cmd.case.resolve", "voc.feedback.submitted"):
        with pytest.raises(Exception):
            await notices.jetstream(timeout=1).publish(other, b"{}")
    await notices.close()

    stt = await connect_as(server, creds, "ingress-stt", [])
    assert (await stt.jetstream(timeout=2).publish("voc.ingress.call.segment", b"{}")).stream == "VOC_INGRESS"
    with pytest.raises(Exception):
        await stt.jetstream(timeout=1).publish(partner_subject("easypay"), b"{}")
    await stt.close()
    await svc.drain()


async def test_a_partner_publishes_only_on_its_own_subject(authed):
    server, creds = authed
    easypay = await connect_as(server, creds, partner_key("easypay"), [])
    js = easypay.jetstream(timeout=1)
    assert (await js.publish("voc.ingress.voc.easypay", b"{}")).stream == "VOC_INGRESS"
    for other in ("voc.ingress.voc.shopmall", "voc.ingress.voc", "voc.ingress.call.segment", "voc.received"):
        with pytest.raises(Exception):  # another partner's, the old shared one, the STT system's, the services'
            await js.publish(other, b"{}")
    await easypay.close()


async def test_rotating_one_users_password_leaves_the_other_systems_connected(tmp_path: Path):
    """`moksori nats-auth --previous … --rotate card --remove-partner easypay`: after the servers reload
    the config, the card team's old password is refused and its new one works, the removed partner is
    cut off and cannot come back, while the bank team and the other partner, whose passwords were kept,
    stay connected and keep working through the reload."""
    # the server's name in the file too, as in the chart's config: a reload refuses a config whose
    # server_name differs from the running one (here given by the command line's -n)
    named = "server_name: rot\n"
    creds = generate_credentials(partners=["easypay", "shopmall"])
    conf = tmp_path / "auth.conf"
    conf.write_text(named + server_config(creds))
    server = NatsServer(tmp_path / "nats", name="rot", extra_args=["-c", str(conf)]).start()
    errors: list[str] = []
    try:
        bank = await connect_as(server, creds, "bank", errors)
        card = await connect_as(server, creds, "card", errors)
        easypay = await connect_as(server, creds, partner_key("easypay"), errors)
        shopmall = await connect_as(server, creds, partner_key("shopmall"), errors)
        rotated = generate_credentials(creds, rotate=["card"], remove=["easypay"])
        assert rotated["card"].user == "team-card" and rotated["card"].password != creds["card"].password
        gone = ("card", partner_key("easypay"))
        assert {k: v for k, v in rotated.items() if k != "card"} == {k: v for k, v in creds.items() if k not in gone}
        conf.write_text(named + server_config(rotated))
        server.proc.send_signal(signal.SIGHUP)  # what the chart's config reloader does when the Secret changes
        for _ in range(100):
            if card.is_closed and easypay.is_closed:
                break
            await asyncio.sleep(0.05)
        assert card.is_closed  # the server dropped the connection its old password made
        assert easypay.is_closed  # and the removed partner's
        for kept in (bank, shopmall):  # a request and its reply, after the reload
            await kept.jetstream(timeout=2).account_info()
            assert kept.is_connected
        for key in gone:
            with pytest.raises(Exception):
                await connect_as(server, creds, key, [])
        card = await connect_as(server, rotated, "card", [])
        await card.jetstream(timeout=2).account_info()
        await asyncio.gather(card.close(), bank.close(), shopmall.close())
    finally:
        server.stop()


async def test_only_the_services_user_reaches_the_live_context_bucket(authed):
    """LIVE_CONTEXT holds the end of callers' turns (masked text): the classifier, as the services' user (every
    subject), puts, reads and watches it; no affiliate, outside system or partner can read, write or watch it
    (their allow lists name no `$KV.LIVE_CONTEXT.>` and no KV_LIVE_CONTEXT API)."""
    server, creds = authed
    svc = await nats.connect(url_with(server.url, creds["services"]))
    kv = await svc.jetstream(timeout=2).key_value("LIVE_CONTEXT")
    rev = await kv.put("Q0FMTC0x", "3\t그게요 금감원".encode())
    assert (await kv.get("Q0FMTC0x")).revision == rev
    watcher = await kv.watchall()
    assert (await watcher.updates(timeout=2)).key == "Q0FMTC0x"
    await watcher.stop()
    for user in ("card", "group", "ingress-stt", "notices", partner_key("easypay")):
        errors: list[str] = []
        nc = await connect_as(server, creds, user, errors)
        js = nc.jetstream(timeout=1)
        with pytest.raises(Exception):  # binding needs the stream's info
            await js.key_value("LIVE_CONTEXT")
        with pytest.raises(Exception):  # a direct read of the key
            await js.get_msg("KV_LIVE_CONTEXT", subject="$KV.LIVE_CONTEXT.Q0FMTC0x")
        with pytest.raises(Exception):  # a write
            await js.publish("$KV.LIVE_CONTEXT.Q0FMTC0x", b"9\tx")
        with pytest.raises(Exception):  # a watch: an ordered consumer of its own
            await js.add_consumer("KV_LIVE_CONTEXT", api.ConsumerConfig(filter_subject="$KV.LIVE_CONTEXT.>"))
        await nc.subscribe("$KV.LIVE_CONTEXT.>")  # a plain subscription: refused asynchronously
        await nc.flush()
        await asyncio.sleep(0.2)
        assert "$kv.live_context.>" in " ".join(errors).lower(), (user, errors)
        await nc.close()
    assert (await kv.get("Q0FMTC0x")).value.decode() == "3\t그게요 금감원"  # nobody else wrote it
    await svc.drain()
