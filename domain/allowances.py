"""Limits per customer that hold however many orders, processes or taps arrive at once.

Each limit is an allowance row per customer and scope, taken by one conditional write
(`used + amount <= limit`) at the moment the benefit is taken, and given back when what took it
is undone (an order that expires or is refunded, a claim released). Reading first and writing
after would let concurrent attempts all pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.orders import china_day_start

# The limit of an allowance that has none (the row still counts the uses).
UNLIMITED = 2**31 - 1


@dataclass(frozen=True)
class Take:
    """`amount` of the allowance `scope`, to be taken only if its use stays within `limit`."""

    scope: str
    amount: int
    limit: int


def daily_scope(purpose: str, created_at: datetime) -> str:
    """The customer's total of orders of `purpose` created on that day in China, in fen."""
    return f"daily:{purpose}:{china_day_start(created_at).date().isoformat()}"


def offer_scope(offer_id: int) -> str:
    """How many times the customer holds or was granted the offer."""
    return f"offer:{offer_id}"


def reward_scope(reward_id: int) -> str:
    """How many times the customer redeemed the reward."""
    return f"reward:{reward_id}"
