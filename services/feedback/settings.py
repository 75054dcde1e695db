from pathlib import Path

from pydantic import Field, field_validator

from services.classifier.adapters.model_file import DEFAULT_MODEL
from services.classifier.domain.lexicon import DEFAULT_LEXICON
from services.feedback.domain.rewards import DEFAULT_REWARDS
from shared.directory import DEFAULT_DIRECTORY
from shared.config import ServiceSettings
from shared.team_keys import parse_team_keys


class FeedbackSettings(ServiceSettings):
    http_port: int = Field(8004, ge=0, le=65535)
    survey_secret: str = Field(min_length=16, description="HMAC key for survey link tokens")
    survey_ttl_days: int = Field(7, ge=1, le=90)
    survey_base_url: str = Field("http://127.0.0.1:8004/s", pattern=r"^https?://[^\s]+[^/\s]$",
                                 description="public address of the survey page; the link is <this>/<token>")
    rewards_file: Path = DEFAULT_REWARDS
    lexicon_file: Path = DEFAULT_LEXICON
    model_file: Path = DEFAULT_MODEL  # comments are classified with the classifier's model
    directory_file: Path = DEFAULT_DIRECTORY  # the affiliates' customer and contract counts
    consultation_keys: str | None = Field(None, description=(
        "affiliate:sha256:<hex>[,...]: the keys of each affiliate's consulting systems (call centre, chat, "
        "branch) for POST /v1/consultations, in TEAM_KEYS' format (`moksori team-key`); unset: no consultation "
        "is surveyed (CONSULTATION_KEYS)"))

    dashboard_keys: str | None = Field(None, description=(
        "group:sha256:<hex>[,...]: the keys of the consumer-protection office and the operators for the "
        "dashboard's numbers (GET /v1/dashboard), in TEAM_KEYS' format (`moksori team-key --affiliate group`). The "
        "dashboard shows every affiliate, so only group keys; unset: the numbers are not served (DASHBOARD_KEYS)"))

    @field_validator("consultation_keys")
    @classmethod
    def _keys(cls, v: str | None) -> str | None:
        if v is not None and v.strip():
            parse_team_keys(v)
            return v
        return None  # unset or empty (an optional Secret key left blank): no consultation is surveyed

    @field_validator("dashboard_keys")
    @classmethod
    def _group_keys(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None  # unset or empty: the dashboard's numbers are not served
        others = sorted(set(parse_team_keys(v).values()) - {"group"})
        if others:
            raise ValueError(f"keys for {', '.join(others)}: the dashboard shows every affiliate's numbers, so "
                             "only group keys (the consumer-protection office, the operators) may read it")
        return v
