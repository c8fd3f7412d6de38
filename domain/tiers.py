"""Loyalty tiers by recharge total over a rolling 12 months."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from domain.money import Money


class Tier(IntEnum):
    NORMAL = 0
    SILVER = 1
    GOLD = 2
    DIAMOND = 3

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class TierRule:
    tier: Tier
    threshold: Money  # recharge total over the last 12 months that reaches it
    multiplier_percent: int  # extra points: 120 = ×1.2


DEFAULT_TIERS = (
    TierRule(Tier.NORMAL, Money(0), 100),
    TierRule(Tier.SILVER, Money.yuan(500), 110),
    TierRule(Tier.GOLD, Money.yuan(2000), 120),
    TierRule(Tier.DIAMOND, Money.yuan(5000), 150),
)


def tier_for(total: Money, rules: tuple[TierRule, ...] = DEFAULT_TIERS) -> TierRule:
    reached = [rule for rule in rules if total >= rule.threshold]
    return max(reached, key=lambda rule: rule.threshold)


def next_tier(
    total: Money, rules: tuple[TierRule, ...] = DEFAULT_TIERS
) -> tuple[TierRule, Money] | None:
    """The next tier and how much more recharge reaches it; None at the top."""
    ahead = sorted((r for r in rules if r.threshold > total), key=lambda r: r.threshold)
    if not ahead:
        return None
    return ahead[0], ahead[0].threshold - total
