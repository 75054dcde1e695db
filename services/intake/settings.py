from pathlib import Path

from pydantic import Field, field_validator

from shared.bizcal import DEFAULT_CALENDAR
from shared.config import ServiceSettings
from shared.pii_crypto import PiiCipher


class IntakeSettings(ServiceSettings):
    http_port: int = Field(8001, ge=0, le=65535)
    pii_keys: str = Field(description="kid:base64 AES-256 key ring, first encrypts (PII_KEYS)")
    case_access_key: str = Field(min_length=16, description="HMAC key for per-case status secrets")
    first_response_business_days: int = Field(14, ge=1, le=60)
    api_key_cache_s: float = Field(30.0, ge=0, le=3600,
                                   description="how long a process trusts a looked-up API key (and so how long "
                                               "a revocation takes to apply)")
    calendar_file: Path = DEFAULT_CALENDAR
    status_base_url: str | None = Field(None, pattern=r"^https?://[^\s]+[^/\s]$",
                                        description="the customers' status page as the receipt notice links it: "
                                                    "<this>/<tracking code>#<case secret>; unset, notices carry "
                                                    "no link (STATUS_BASE_URL)")

    @field_validator("pii_keys")
    @classmethod
    def _keys(cls, v: str) -> str:
        PiiCipher.from_spec(v)
        return v
