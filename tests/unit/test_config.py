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
    assert s.api_key_cache_s == 30.0


def test_a_negative_api_key_cache_is_refused(monkeypatch, capsys):
    monkeypatch.setenv("PII_KEYS", PiiCipher.generate_spec())
    monkeypatch.setenv("CASE_ACCESS_KEY", "x" * 20)
    monkeypatch.setenv("API_KEY_CACHE_S", "-1")
    with pytest.raises(SystemExit):
        load_settings(IntakeSettings, "intake")
    assert "API_KEY_CACHE_S" in capsys.readouterr().err


def test_an_inbox_kept_shorter_than_a_stream_keeps_messages_is_refused(monkeypatch, capsys):
    from shared.bus import MAX_STREAM_AGE_DAYS
    from shared.config import ServiceSettings

    monkeypatch.setenv("INBOX_KEEP_DAYS", str(MAX_STREAM_AGE_DAYS - 1))
    with pytest.raises(SystemExit):
        load_settings(ServiceSettings, "routing")
    err = capsys.readouterr().err
    assert "INBOX_KEEP_DAYS" in err and f"at least {MAX_STREAM_AGE_DAYS}" in err
    monkeypatch.setenv("INBOX_KEEP_DAYS", str(MAX_STREAM_AGE_DAYS))
    assert load_settings(ServiceSettings, "routing").inbox_keep_days == MAX_STREAM_AGE_DAYS


def test_configuration_errors_never_print_secrets(monkeypatch, capsys):
    """A missing variable used to print every setting given (the PII key ring, the database password)."""
    key = PiiCipher.generate_spec()
    monkeypatch.setenv("PII_KEYS", key)
    monkeypatch.setenv("DATABASE_URL", "postgresql://moksori:S3cretPw@db:5432/moksori")
    monkeypatch.delenv("CASE_ACCESS_KEY", raising=False)
    monkeypatch.setenv("NATS_URL", "http://admin:NatsPw@nats:4222")
    with pytest.raises(SystemExit):
        load_settings(IntakeSettings, "intake")
    err = capsys.readouterr().err
    assert "CASE_ACCESS_KEY: not set" in err and "NATS_URL=" in err
    assert key.split(":", 1)[1] not in err and "S3cretPw" not in err and "NatsPw" not in err
    monkeypatch.setenv("CASE_ACCESS_KEY", "short")  # a rejected secret is named, not shown
    with pytest.raises(SystemExit):
        load_settings(IntakeSettings, "intake")
    err = capsys.readouterr().err
    assert "CASE_ACCESS_KEY=<hidden>" in err and "short" not in err


def test_the_deployment_placeholders_stop_every_service(monkeypatch, capsys):
    """deploy/base/secrets.yaml's placeholders passed as valid keys for routing and feedback."""
    from services.feedback.settings import FeedbackSettings
    from services.routing.settings import RoutingSettings

    monkeypatch.setenv("TEAM_KEYS", "group:REPLACE_WITH_RANDOM_32_CHARS")
    monkeypatch.setenv("SURVEY_SECRET", "REPLACE_WITH_RANDOM_32_CHARS")
    for cls, name, var in ((RoutingSettings, "routing", "TEAM_KEYS"), (FeedbackSettings, "feedback", "SURVEY_SECRET")):
        with pytest.raises(SystemExit):
            load_settings(cls, name)
        err = capsys.readouterr().err
        assert f"{var}=<hidden>" in err and "placeholder" in err
