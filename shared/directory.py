"""The group's directory: its affiliates, their products and teams, the SLA rules and the
denominators of the reports. Operator data, validated on load, read by routing (who gets a
case, by when), the classifier (whose supervisors hear a live alert) and feedback (환산건수)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.datafiles import load_yaml, located
from shared.events import AFFILIATES, TEAMS, Affiliate, Classification, Flag, Team, Urgency

DEFAULT_DIRECTORY = Path(__file__).resolve().parent / "data" / "directory.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Denominator(_Strict):
    """What 환산건수 divides by: `count` now, and earlier years' counts in `by_year`, so last year's
    figure is divided by last year's customers (or contracts), not this year's."""

    unit: Literal["customers", "contracts"]
    count: int = Field(gt=0)
    by_year: dict[int, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)

    def for_year(self, year: int) -> int:
        return self.by_year.get(year, self.count)


class AffiliateEntry(_Strict):
    name: str = Field(min_length=1)
    denominator: Denominator


class SlaRule(_Strict):
    """Hours run around the clock; business days follow the calendar."""

    ack_hours: float | None = Field(None, gt=0)
    ack_business_days: int | None = Field(None, gt=0)
    resolve_hours: float | None = Field(None, gt=0)
    resolve_business_days: int | None = Field(None, gt=0, le=60)
    warn_at_fraction: float = Field(0.8, gt=0, lt=1)

    @model_validator(mode="after")
    def _one_each(self) -> "SlaRule":
        if self.ack_hours is not None and self.ack_business_days is not None:
            raise ValueError("give ack_hours or ack_business_days, not both")
        if (self.resolve_hours is None) == (self.resolve_business_days is None):
            raise ValueError("give exactly one of resolve_hours or resolve_business_days")
        return self


class Directory(_Strict):
    affiliates: dict[Affiliate, AffiliateEntry]
    teams: dict[Team, str]
    sla: dict[Urgency, SlaRule]
    copy_to_consumer_protection: tuple[Flag, ...] = ("regulator", "media", "legal")
    products: dict[str, Affiliate] = Field(default_factory=dict,
                                           description="product code prefix -> the affiliate that owns it")

    def affiliate_for_product(self, product: str | None) -> str | None:
        """The longest matching prefix wins: card.credit before card."""
        if not product:
            return None
        matches = [p for p in self.products if product == p or product.startswith(p + ".")]
        return self.products[max(matches, key=len)] if matches else None

    @model_validator(mode="after")
    def _complete(self) -> "Directory":
        for name, got, want in (("affiliates", self.affiliates, AFFILIATES), ("teams", self.teams, TEAMS),
                                ("sla", self.sla, ("critical", "high", "normal", "low"))):
            missing = sorted(set(want) - set(got))
            if missing:
                raise located((name,), f"missing {missing}")
        return self


def load_directory(path: Path = DEFAULT_DIRECTORY) -> Directory:
    return load_yaml(path, Directory)


def choose_affiliate(c: Classification, channel_affiliate: str | None, product_affiliate: str | None = None) -> str:
    """Whose case it is: the channel's explicit affiliate wins, then the product's owner, then the
    classifier's. Routing assigns the case by it; the classifier tells that affiliate's supervisors."""
    return channel_affiliate or product_affiliate or c.affiliate
