from pathlib import Path

from pydantic import Field

from services.routing.domain.directory import DEFAULT_DIRECTORY
from shared.bizcal import DEFAULT_CALENDAR
from shared.config import ServiceSettings


class RoutingSettings(ServiceSettings):
    http_port: int = Field(8003, ge=0, le=65535)
    directory_file: Path = DEFAULT_DIRECTORY
    calendar_file: Path = DEFAULT_CALENDAR
