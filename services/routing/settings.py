from pathlib import Path

from pydantic import Field, field_validator

from shared.directory import DEFAULT_DIRECTORY
from shared.bizcal import DEFAULT_CALENDAR
from shared.config import ServiceSettings
from shared.events import AFFILIATES


class RoutingSettings(ServiceSettings):
    http_port: int = Field(8003, ge=0, le=65535)
    directory_file: Path = DEFAULT_DIRECTORY
    calendar_file: Path = DEFAULT_CALENDAR
    sweep_every_s: float = Field(5.0, gt=0, le=300, description="how often the SLA sweeper looks for due marks")
    team_keys: str = Field(description="affiliate:key[,affiliate:key...]: each affiliate's HTTP key (TEAM_KEYS)")

    @field_validator("team_keys")
    @classmethod
    def _keys(cls, v: str) -> str:
        parse_team_keys(v)
        return v


def parse_team_keys(spec: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for i, item in enumerate(filter(None, (p.strip() for p in spec.split(",")))):
        affiliate, sep, key = item.partition(":")
        if not sep or affiliate not in AFFILIATES or len(key) < 16:
            raise ValueError(f"entry #{i + 1}: expected <affiliate>:<key of 16+ characters>, affiliate one of "
                             f"{', '.join(AFFILIATES)}")
        keys[key] = affiliate
    if not keys:
        raise ValueError("no affiliate keys")
    return keys
