from pathlib import Path

from pydantic import Field

from services.classifier.adapters.model_file import DEFAULT_MODEL
from services.classifier.domain.lexicon import DEFAULT_LEXICON
from shared.directory import DEFAULT_DIRECTORY
from shared.config import ServiceSettings


class ClassifierSettings(ServiceSettings):
    http_port: int = Field(8002, ge=0, le=65535)
    lexicon_file: Path = DEFAULT_LEXICON
    directory_file: Path = Field(DEFAULT_DIRECTORY, description="the group's directory: which affiliate owns a product")
    lexicon_reload_s: float = Field(5.0, gt=0, le=3600, description="how often the lexicon file is checked")
    model_file: Path = Field(DEFAULT_MODEL, description="written by `moksori classify train`")
    repeat_window_days: int = Field(30, ge=1, le=3650, description="same customer and topic inside this many days "
                                                                   "makes a repeat complaint")
