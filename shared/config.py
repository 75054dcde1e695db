"""Service configuration from environment variables, validated at start.

A bad value stops the process with one line naming the variable and the problem.
"""

from __future__ import annotations

import re
import ssl
import sys
from pathlib import Path
from collections.abc import Callable
from typing import Literal, TypeVar

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.bus import MAX_STREAM_AGE_DAYS
from shared.datafiles import DataFileError
from shared.tls import TlsFileError, client_context, nats_tls_options, readable


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, frozen=True)

    nats_url: str = Field("nats://127.0.0.1:4222", description="comma-separated NATS server URLs")
    database_url: str = Field("postgresql://postgres@127.0.0.1:5432/moksori")
    http_host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=0, le=65535)
    http_workers: int = Field(1, ge=1, le=16, description="processes serving HTTP; in Kubernetes scale pods instead")
    # TLS to NATS (shared/tls.py): PEM files mounted from Secrets; checked here, at start-up
    nats_tls_ca: Path | None = Field(None, description="CA that signed the NATS servers' certificates (PEM)")
    nats_tls_cert: Path | None = Field(None, description="this service's certificate, when NATS verifies clients")
    nats_tls_key: Path | None = Field(None, validate_default=True, description="the certificate's private key")
    nats_replicas: int = Field(1, ge=1, le=5, description="JetStream stream replicas; 3 in production")
    nats_topology: Literal["ensure", "verify"] = Field(
        "ensure", description="ensure: create or update streams and consumers at start-up; verify: only check "
                              "they exist (NACK owns them in production)")
    db_pool_size: int = Field(10, ge=1, le=100)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # housekeeping of the inbox table (shared/housekeeping.py; the relay deletes outbox rows as it publishes)
    inbox_keep_days: float = Field(MAX_STREAM_AGE_DAYS + 1, le=3650,
                                   description="inbox rows are deleted after this; at least the longest stream age")
    housekeeping_interval_s: float = Field(600.0, ge=1, le=86_400)

    @field_validator("inbox_keep_days")
    @classmethod
    def _outlives_streams(cls, v: float) -> float:
        if v < MAX_STREAM_AGE_DAYS:
            raise ValueError(f"must be at least {MAX_STREAM_AGE_DAYS} (days the longest-lived stream keeps a "
                             "message): a message still in its stream could be redelivered after its inbox row "
                             "is gone and take effect twice")
        return v

    @field_validator("nats_url")
    @classmethod
    def _nats_scheme(cls, v: str) -> str:
        for url in v.split(","):
            if not url.strip().startswith(("nats://", "tls://", "ws://", "wss://")):
                raise ValueError(f"{url.strip()!r} must start with nats://, tls://, ws:// or wss://")
        return v

    @field_validator("nats_tls_ca", "nats_tls_cert", "nats_tls_key", mode="before")
    @classmethod
    def _unset_if_empty(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("nats_tls_ca")
    @classmethod
    def _tls_ca(cls, v: Path | None) -> Path | None:
        if v is not None:
            try:
                client_context(ca=v)
            except TlsFileError as exc:
                raise ValueError(str(exc)) from None
        return v

    @field_validator("nats_tls_cert")
    @classmethod
    def _tls_cert(cls, v: Path | None) -> Path | None:
        if v is not None:
            try:
                readable(v)
            except TlsFileError as exc:
                raise ValueError(str(exc)) from None
        return v

    @field_validator("nats_tls_key")
    @classmethod
    def _tls_pair(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        """The certificate and its key, together (validated after NATS_TLS_CERT, which comes first)."""
        if "nats_tls_cert" not in info.data:  # NATS_TLS_CERT itself was invalid: reported there
            return v
        cert = info.data["nats_tls_cert"]
        try:
            client_context(cert=cert, key=v)
        except TlsFileError as exc:
            raise ValueError(f"with NATS_TLS_CERT={cert}: {exc}" if cert else f"without NATS_TLS_CERT: {exc}") from None
        return v

    def nats_tls(self) -> ssl.SSLContext | None:
        """The client's SSL context when TLS files are given; None leaves nats-py's default
        (the system's CAs) for tls:// URLs."""
        if self.nats_tls_ca is None and self.nats_tls_cert is None:
            return None
        return client_context(self.nats_tls_ca, self.nats_tls_cert, self.nats_tls_key)

    def nats_tls_options(self) -> dict:
        """`nats.connect`'s TLS arguments (shared/tls.py): TLS first on every connection when wanted."""
        return nats_tls_options(self.nats_url.split(","), self.nats_tls())

    @field_validator("database_url")
    @classmethod
    def _pg_scheme(cls, v: str) -> str:
        if not v.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql://")
        return v

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator("*", mode="before")
    @classmethod
    def _not_a_placeholder(cls, v: object) -> object:
        """deploy/base/secrets.yaml ships placeholders: a key nobody replaced is public, so it stops start-up."""
        if isinstance(v, str) and "REPLACE_" in v:
            raise ValueError("is still the placeholder from deploy/base/secrets.yaml: put a real secret there")
        return v


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S], service: str) -> S:
    try:
        return cls()
    except ValidationError as exc:
        lines = []
        for e in exc.errors():
            var = "_".join(str(p) for p in e["loc"]).upper()
            if e["type"] == "missing":
                lines.append(f"  {var}: not set (required)")
            else:
                lines.append(f"  {var}={_shown(var, e.get('input'))}: {_scrubbed(e['msg'])}")
        print(f"moksori-{service}: invalid configuration\n" + "\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None


_SECRET = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|CREDENTIAL", re.I)
_URL_PASSWORD = re.compile(r"(//[^:/@\s]+:)[^@/\s]+@")


def _shown(var: str, value: object) -> str:
    """A rejected value as it may appear in a log: never a secret (keys, passwords in URLs)."""
    if _SECRET.search(var):
        return "<hidden>"
    text = _scrubbed(str(value))
    return repr(text if len(text) <= 120 else text[:120] + "…")


def _scrubbed(text: str) -> str:
    return _URL_PASSWORD.sub(r"\1***@", text)


B = TypeVar("B")


def build_or_exit(service: str, build: Callable[[S], B], settings: S) -> B:
    """The service wired from its settings; a broken operator data file (lexicon, model, directory,
    calendar) stops it with that file's own message, its path and line, as invalid configuration does,
    not with a traceback."""
    try:
        return build(settings)
    except DataFileError as exc:
        print(f"moksori-{service}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
