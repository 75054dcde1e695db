"""The four services over NATS with mutual TLS (the servers verify each client's certificate): a
complaint goes from intake to routing and back to the customer's status. A client without a
certificate, or without the group's CA, is refused; a service asked for TLS sends nothing to a
server that speaks in clear, NATS or PostgreSQL (PGSSLMODE=verify-full), instead of carrying on
unencrypted. The embedded PostgreSQL is built without SSL, so the services' TLS to PostgreSQL is
shown by that refusal, not by a flow."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from pathlib import Path

import asyncpg
import httpx
import nats
import pytest

from services import devrun
from shared.devstack import NatsServer
from shared.natsauth import url_with
from shared.tls import client_context, nats_tls_options
from tests.tlscerts import make_pki, nats_tls_block

pytestmark = pytest.mark.e2e

VOC = {"channel": "email", "affiliate": "bank",
       "text": "안녕하십니까. 지난 3일 영업점에서 정기예금을 해지했는데 중도해지 이율이 안내받은 것과 다르게 "
               "적용되었습니다. 계좌 110-234-567890 거래내역 확인 후 회신 부탁드립니다."}


@pytest.fixture(scope="module")
async def tls_stack(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str):
    var = Path(tmp_path_factory.mktemp("tls"))
    pki = make_pki(var / "pki")
    name = f"tls_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg_admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    auth_conf, creds = devrun.local_nats_auth(var)
    conf = var / "nats-tls.conf"
    conf.write_text(auth_conf.read_text() + nats_tls_block(pki, verify=True))
    server = NatsServer(var / "nats", name="moksori-tls", extra_args=["-c", str(conf)]).start()
    url = url_with(server.url, creds["services"]).replace("nats://", "tls://", 1)
    stack = devrun.Stack(var=var, nats=server, nats_url=url,
                         database_url=f"{pg_admin_url.rpartition('/')[0]}/{name}")
    tls_env = {"NATS_TLS_CA": str(pki.ca), "NATS_TLS_CERT": str(pki.client_cert), "NATS_TLS_KEY": str(pki.client_key)}
    try:
        for svc in devrun.SERVICES:
            devrun.start_service(stack, svc, tls_env)
        await devrun.wait_ready(stack, timeout=90)
        await devrun.issue_dev_key(stack, "tls")
        yield stack, pki
    finally:
        devrun.stop_all(stack)
    for svc in devrun.SERVICES:
        log = stack.log(svc).read_text()
        assert "Traceback" not in log, f"{svc} log:\n{log[-3000:]}"


async def test_a_complaint_flows_over_tls_only(tls_stack):
    stack, pki = tls_stack
    async with httpx.AsyncClient(base_url=stack.url("intake"), timeout=10,
                                 headers={"X-Api-Key": stack.api_key}) as intake:
        r = await intake.post("/v1/voc", json=VOC)
        assert r.status_code == 202, r.text
        code, secret = r.json()["tracking_code"], r.json()["access_secret"]
        for _ in range(150):
            status = (await intake.get(f"/v1/voc/{code}", headers={"X-Case-Secret": secret})).json()
            if status.get("status") == "routed":
                break
            await asyncio.sleep(0.1)
        assert status.get("status") == "routed", (status, devrun.log_tails(stack))



async def test_nats_refuses_a_client_without_a_certificate_or_the_ca(tls_stack):
    stack, pki = tls_stack
    services_tls = nats_tls_options([stack.nats_url], client_context(pki.ca, pki.client_cert, pki.client_key))
    await (await nats.connect(stack.nats_url, allow_reconnect=False, **services_tls)).close()
    # an affiliate's client that upgrades after the server's INFO (plain nats-py) gets in too, 300 ms later
    await (await nats.connect(stack.nats_url, allow_reconnect=False, tls=services_tls["tls"])).close()
    for context, refusal in ((client_context(pki.ca), "CERTIFICATE_REQUIRED"),  # the server's `verify`
                             (ssl.create_default_context(), "CERTIFICATE_VERIFY_FAILED")):  # not the group's CA
        with pytest.raises(ssl.SSLError, match=refusal):
            await nats.connect(stack.nats_url, allow_reconnect=False, connect_timeout=2,
                               **nats_tls_options([stack.nats_url], context))


async def test_a_service_asked_for_tls_sends_nothing_to_a_server_without_it(nats_server, nats_url, database_url,
                                                                            tmp_path, tls_stack):
    """NATS_TLS_* given, but the server speaks in clear: the service opens with the TLS handshake, which
    fails, so the server never gets its CONNECT (the password) and the service never counts as connected."""
    _, pki = tls_stack
    stack = devrun.Stack(var=tmp_path, nats_url=nats_url, database_url=database_url)
    devrun.start_service(stack, "routing", {"NATS_TLS_CA": str(pki.ca)})
    try:
        await devrun.wait_ready(stack, ("routing",))  # its HTTP API serves without NATS (the outbox waits)
        log = ""
        for _ in range(100):
            log = stack.log("routing").read_text()
            if "WRONG_VERSION_NUMBER" in log:
                break
            await asyncio.sleep(0.1)
        assert "WRONG_VERSION_NUMBER" in log, devrun.log_tails(stack)  # the TLS handshake met plain NATS
        async with httpx.AsyncClient(timeout=2) as client:
            assert (await client.get(f"{stack.url('routing')}/healthz")).json()["nats_connected"] is False
            if nats_server is not None:  # the session's own server: no client named moksori-routing got in
                connz = (await client.get(f"http://127.0.0.1:{nats_server.monitor_port}/connz?limit=1000")).json()
                assert "moksori-routing" not in {c.get("name") for c in connz.get("connections") or []}
    finally:
        devrun.stop_services(stack)


async def test_a_service_asked_for_tls_to_postgres_refuses_a_server_without_it(nats_url, database_url, tmp_path,
                                                                                tls_stack):
    """PGSSLMODE=verify-full (read by asyncpg, as by libpq): against a PostgreSQL without TLS the
    service does not fall back to a connection in clear; it never becomes ready, and says why."""
    _, pki = tls_stack
    stack = devrun.Stack(var=tmp_path, nats_url=nats_url, database_url=database_url)
    devrun.start_service(stack, "feedback", {"PGSSLMODE": "verify-full", "PGSSLROOTCERT": str(pki.ca)})
    try:
        with pytest.raises((TimeoutError, RuntimeError)):
            await devrun.wait_ready(stack, ("feedback",), timeout=8)
    finally:
        devrun.stop_services(stack)
    assert "rejected SSL upgrade" in stack.log("feedback").read_text(), devrun.log_tails(stack)
