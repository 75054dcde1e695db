"""TLS files for NATS are checked when the settings load: each problem stops start-up with the
variable's name and the reason, not a failed handshake later (shared/tls.py)."""

from __future__ import annotations

import ssl

import pytest

from services.ops_cli import OpsError, _tls_from_env
from shared.config import ServiceSettings, load_settings
from shared.tls import client_context, encrypted, wants_tls
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
    assert s.nats_tls() is None and not s.nats_tls_required
    monkeypatch.setenv("NATS_URL", "tls://nats.nats.svc:4222")
    assert load_settings(ServiceSettings, "routing").nats_tls_required  # the system's CAs, but encrypted


def test_the_ca_and_a_client_pair_make_a_verifying_context(monkeypatch, pki):
    monkeypatch.setenv("NATS_TLS_CA", str(pki.ca))
    monkeypatch.setenv("NATS_TLS_CERT", str(pki.client_cert))
    monkeypatch.setenv("NATS_TLS_KEY", str(pki.client_key))
    s = load_settings(ServiceSettings, "routing")
    ctx = s.nats_tls()
    assert s.nats_tls_required
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


def test_what_asks_for_tls():
    assert not wants_tls(["nats://a:4222", "nats://b:4222"], files_given=False)
    assert wants_tls(["nats://a:4222"], files_given=True)
    assert wants_tls(["nats://a:4222", " tls://b:4222"], files_given=False)

    class Client:
        def __init__(self, info):
            self._server_info = info

    assert encrypted(Client({"tls_required": True}))
    assert not encrypted(Client({"server_id": "x"}))


def test_client_context_alone_checks_the_pair(pki):
    with pytest.raises(ValueError, match="set both or neither"):
        client_context(key=pki.client_key)
    assert client_context(pki.ca, pki.client_cert, pki.client_key).verify_mode == ssl.CERT_REQUIRED
