import pytest

from services.intake.settings import IntakeSettings
from shared.config import load_settings
from shared.pii_crypto import PiiCipher


def test_bad_environment_stops_with_a_message_naming_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("NATS_URL", "http://localhost:4222")
    monkeypatch.setenv("HTTP_PORT", "99999")
    monkeypatch.setenv("PII_KEYS", PiiCipher.generate_spec())
    monkeypatch.setenv("CASE_ACCESS_KEY", "x" * 20)
    with pytest.raises(SystemExit) as exc:
        load_settings(IntakeSettings, "intake")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "NATS_URL" in err and "must start with nats://" in err
    assert "HTTP_PORT" in err


def test_missing_pii_key_is_refused(monkeypatch, capsys):
    monkeypatch.delenv("PII_KEYS", raising=False)
    monkeypatch.setenv("CASE_ACCESS_KEY", "x" * 20)
    with pytest.raises(SystemExit):
        load_settings(IntakeSettings, "intake")
    assert "PII_KEYS" in capsys.readouterr().err


def test_good_environment_loads(monkeypatch):
    monkeypatch.setenv("PII_KEYS", PiiCipher.generate_spec())
    monkeypatch.setenv("CASE_ACCESS_KEY", "x" * 20)
    monkeypatch.setenv("NATS_URL", "nats://a:4222,nats://b:4222")
    s = load_settings(IntakeSettings, "intake")
    assert s.first_response_business_days == 14
