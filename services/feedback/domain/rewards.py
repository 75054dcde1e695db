"""Suggestion rewards and service recovery (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shared.datafiles import load_yaml
from shared.events import Affiliate

Points = Annotated[int, Field(gt=0, le=10_000_000)]  # a reward of 0 could not be granted; more is a typo
DEFAULT_REWARDS = Path(__file__).resolve().parent.parent / "data" / "rewards.yaml"


class RewardTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default_points: Points = 50_000
    per_affiliate: dict[Affiliate, Points] = Field(default_factory=dict)

    def points_for(self, affiliate: str) -> int:
        return self.per_affiliate.get(affiliate, self.default_points)


def load_rewards(path: Path = DEFAULT_REWARDS) -> RewardTable:
    return load_yaml(path, RewardTable)


# the alert a consultation's poor rating raises (a consultation is no case: its id is no case's)
CONSULTATION_RECOVERY = "consultation_recovery"


def needs_recovery(csat: int | None, nps: int | None, comment_sentiment: str | None) -> bool:
    """CSAT 2 or lower, or an NPS detractor (0-6) whose comment is negative."""
    if csat is not None and csat <= 2:
        return True
    return nps is not None and nps <= 6 and comment_sentiment == "negative"
