"""Routing rules (pure): which affiliate team gets a classified case, and who gets a copy."""

from __future__ import annotations

from dataclasses import dataclass

from shared.directory import Directory, choose_affiliate
from shared.events import Classification
from shared.pii import shares_customer  # noqa: F401  (routing's rule, shared with the classifier's action requests)


@dataclass(frozen=True)
class Assignment:
    affiliate: str
    team: str
    copy_reason: tuple[str, ...] = ()


def choose_team(c: Classification) -> str:
    if c.topic in ("fraud_phishing", "card_loss_theft"):
        return "fraud_response"
    if "abusive" in c.flags:
        return "special_handling"
    if c.kind == "suggestion":
        return "suggestions_review"
    return "general"


def assign(c: Classification, channel_affiliate: str | None, directory: Directory,
           product: str | None = None) -> Assignment:
    copy = tuple(f for f in c.flags if f in directory.copy_to_consumer_protection)
    return Assignment(choose_affiliate(c, channel_affiliate, directory.affiliate_for_product(product)),
                      choose_team(c), copy)


