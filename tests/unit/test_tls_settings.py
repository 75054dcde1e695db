"""TLS to NATS (shared/tls.py): the files are checked when the settings load, each problem stopping
start-up with the variable's name and the reason; and a client asked for TLS opens with the handshake,
so a server in clear never gets its password (a fake server records what it is sent)."""

from __future__ import annotations

import asyncio
import ssl

import nats
import pytest

from services.ops_cli import OpsError, _connect, _tls_from_env
from shared.config import ServiceSettings, load_settings
from shared.tls import client_context, nats_tls_options
from tests.tlscerts import make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def refused(monkeypatch, capsys, **env: str) -> str:
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    with pytest.raises(SystemExit) as exc:
        load_settings(ServiceSettings, "routing")
    assert exc.value.code == 2
    return capsys.readouterr().err


def test_no_tls_files_leave_the_default(monkeypatch):
    for var in ("NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY"):
        monkeypatch.setenv(var, "")  # an empty variable (a Deployment's `value: ""`) is unset
    s = load_settings(ServiceSettings, "routing")
    assert s.nats_tls() is None and s.nats_tls_options() == {}
    monkeypatch.setenv("NATS_URL", "tls://nats.nats.svc:4222")
    # the system's CAs, but TLS from the first byte
    assert load_settings(ServiceSettings, "routing").nats_tls_options() == {"tls_handshake_first": True}


def test_the_ca_and_a_client_pair_make_a_verifying_context(monkeypatch, pki):
    monkeypatch.setenv("NATS_TLS_CA", str(pki.ca))
    monkeypatch.setenv("NATS_TLS_CERT", str(pki.client_cert))
    monkeypatch.setenv("NATS_TLS_KEY", str(pki.client_key))
    s = load_settings(ServiceSettings, "routing")
    ctx = s.nats_tls()
    assert s.nats_tls_options()["tls_handshake_first"]
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("organizationName", "Moksori test"),),
                                                           (("commonName", "Moksori test CA"),))]


def test_a_missing_ca_file_is_named(monkeypatch, capsys, tmp_path):
    err = refused(monkeypatch, capsys, NATS_TLS_CA=str(tmp_path / "ca.crt"))
    assert "NATS_TLS_CA" in err and "no such file" in err


def test_a_ca_file_without_a_certificate_is_named(monkeypatch, capsys, tmp_path):
    bad = tmp_path / "ca.crt"
    bad.write_text("-----BEGIN CERTIFICATE-----\n금융그룹 인증서 아님\n-----END CERTIFICATE-----\n")
    err = refused(monkeypatch, capsys, NATS_TLS_CA=str(bad))
    assert "NATS_TLS_CA" in err and "no PEM certificate could be read" in err


def test_a_certificate_without_its_key_is_refused(monkeypatch, capsys, pki):
    err = refused(monkeypatch, capsys, NATS_TLS_CA=str(pki.ca), NATS_TLS_CERT=str(pki.client_cert))
    assert "NATS_TLS_KEY" in err and "set both or neither" in err


def test_a_key_without_its_certificate_and_a_missing_certificate_are_named(monkeypatch, capsys, pki, tmp_path):
    err = refused(monkeypatch, capsys, NATS_TLS_KEY=str(pki.client_key))
    assert "without NATS_TLS_CERT" in err and "set both or neither" in err
    err = refused(monkeypatch, capsys, NATS_TLS_CERT=str(tmp_path / "client.crt"), NATS_TLS_KEY=str(pki.client_key))
    assert f"NATS_TLS_CERT='{tmp_path / 'client.crt'}'" in err and "no such file" in err


def test_a_key_that_is_not_the_certificates_is_refused(monkeypatch, capsys, pki):
    err = refused(monkeypatch, capsys, NATS_TLS_CERT=str(pki.client_cert), NATS_TLS_KEY=str(pki.server_key))
    assert "NATS_TLS_KEY" in err and "matching private key" in err


def test_the_ops_commands_read_the_same_files(monkeypatch, pki, tmp_path):
    monkeypatch.delenv("NATS_TLS_CA", raising=False)
    monkeypatch.delenv("NATS_TLS_CERT", raising=False)
    monkeypatch.delenv("NATS_TLS_KEY", raising=False)
    assert _tls_from_env() is None
    monkeypatch.setenv("NATS_TLS_CA", str(pki.ca))
    assert isinstance(_tls_from_env(), ssl.SSLContext)
    monkeypatch.setenv("NATS_TLS_KEY", str(pki.client_key))
    with pytest.raises(OpsError, match="NATS_TLS_\\*: a client certificate needs its key"):
        _tls_from_env()


def test_what_asks_for_tls(pki):
    ctx = client_context(pki.ca)
    assert nats_tls_options(["nats://a:4222", "nats://b:4222"], None) == {}
    assert nats_tls_options(["nats://a:4222"], ctx) == {"tls": ctx, "tls_handshake_first": True}
    assert nats_tls_options(["nats://a:4222", " tls://b:4222"], None) == {"tls_handshake_first": True}
    assert nats_tls_options(["wss://a:443"], ctx) == {"tls": ctx}  # the websocket does its own TLS


class ServerInClear:
    """A NATS server without TLS (or one passing as ours): sends INFO, records what comes back."""

    def __init__(self) -> None:
        self.received = bytearray()

    async def __aenter__(self) -> "ServerInClear":
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b'INFO {"server_id":"NFAKE","version":"2.15.1","proto":1,"max_payload":1048576,'
                         b'"auth_required":true}\r\n')
            await writer.drain()
            try:
                self.received += await asyncio.wait_for(reader.read(65536), 1.5)
            except asyncio.TimeoutError:
                pass
            writer.close()

        self._server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self._server.close()


async def test_a_service_asked_for_tls_never_sends_its_password_in_clear(pki):
    async with ServerInClear() as fake:
        url = f"tls://moksori-services:s3cret-pw@127.0.0.1:{fake.port}"
        settings = ServiceSettings(nats_url=url, nats_tls_ca=pki.ca)
        with pytest.raises(OSError):  # the handshake fails (an SSL error, or the fake server hangs up)
            await nats.connect(settings.nats_url, allow_reconnect=False, connect_timeout=2,
                               **settings.nats_tls_options())
        assert fake.received[:1] == b"\x16"  # a TLS handshake record: the ClientHello, and nothing else
        assert b"s3cret-pw" not in fake.received and b"CONNECT" not in fake.received
        # what it guards against: a client that waits for INFO before TLS answers a server in clear with
        # its password, tls:// URL and CA notwithstanding
        fake.received.clear()
        client = await nats.connect(url, tls=client_context(pki.ca), allow_reconnect=False, connect_timeout=2)
        await client.close()
        assert b"s3cret-pw" in fake.received


async def test_the_ops_commands_refuse_a_server_in_clear_too(monkeypatch, pki):
    monkeypatch.setenv("NATS_TLS_CA", str(pki.ca))
    monkeypatch.setattr("services.ops_cli.CONNECT_BOUND_S", 2.0)  # nats-py hangs after the failed handshake
    async with ServerInClear() as fake:
        with pytest.raises(OpsError, match="cannot connect to NATS at nats://ops:\\*\\*\\*@127.0.0.1.*Error"):
            await _connect(f"nats://ops:s3cret-pw@127.0.0.1:{fake.port}")
        assert fake.received[:1] == b"\x16" and b"s3cret-pw" not in fake.received


def test_client_context_alone_checks_the_pair(pki):
    with pytest.raises(ValueError, match="set both or neither"):
        client_context(key=pki.client_key)
    assert client_context(pki.ca, pki.client_cert, pki.client_key).verify_mode == ssl.CERT_REQUIRED
