from pathlib import Path

from pydantic import Field, field_validator

from shared.team_keys import parse_team_keys
from shared.bizcal import DEFAULT_CALENDAR
from shared.config import ServiceSettings
from shared.directory import DEFAULT_DIRECTORY


class RoutingSettings(ServiceSettings):
    http_port: int = Field(8003, ge=0, le=65535)
    directory_file: Path = DEFAULT_DIRECTORY
    calendar_file: Path = DEFAULT_CALENDAR
    sweep_every_s: float = Field(5.0, gt=0, le=300, description="how often the SLA sweeper looks for due marks")
    require_staff_id: bool = Field(True, description=(
        "a team's case read or step must name the employee (X-Staff-Id, or staff_id in a NATS command); "
        "false only while the affiliates' systems are changed to send it: then one without is kept with no "
        "employee (REQUIRE_STAFF_ID)"))
    team_keys: str = Field(description="affiliate:sha256:<hex>[,...], or affiliate:<key>: each affiliate's HTTP "
                                       "keys, best as hashes (`moksori team-key`) (TEAM_KEYS)")

    @field_validator("team_keys")
    @classmethod
    def _keys(cls, v: str) -> str:
        parse_team_keys(v)
        return v
