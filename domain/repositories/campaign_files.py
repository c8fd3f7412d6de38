"""Loading a campaign file, as the catalogue service may ask for it of the unit of work: the
campaigns, offers and rewards it names, created or updated by code, their counters kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class CampaignToLoad:
    code: str
    name_zh: str
    name_en: str
    terms_zh: str
    terms_en: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    status: str
    audience: str
    audience_tier: str | None
    audience_carrier: str | None
    priority: int
    exclusive: bool
    extra: dict[str, object]
    loaded_at: datetime


@dataclass(frozen=True)
class OfferToLoad:
    code: str
    campaign_id: int
    kind: str
    params: dict[str, object]
    quota: int | None
    per_customer: int | None
    budget_fen: int | None


@dataclass(frozen=True)
class LoadedOffer:
    """What loading over an existing offer must respect: its campaign and the slots taken."""

    campaign_id: int
    used: int


@dataclass(frozen=True)
class RewardToLoad:
    code: str
    kind: str
    name_zh: str
    name_en: str
    cost_points: int
    stock: int | None
    per_customer: int | None
    value_fen: int | None
    valid_days: int | None
    product_code: str | None


class CampaignFileRepository(Protocol):
    """Campaigns, offers and rewards are one per code: saving one whose code exists updates
    it, and keeps what was used of it (slots taken, budget spent, rewards redeemed, whether a
    reward is offered)."""

    async def save_campaign(self, campaign: CampaignToLoad) -> int:
        """The campaign of this code, created or updated; its id."""

    async def offer(self, code: str) -> LoadedOffer | None: ...

    async def save_offer(self, offer: OfferToLoad) -> None:
        """The offer of this code, created (no slot taken, nothing spent) or updated."""

    async def redeemed(self, reward_code: str) -> int | None:
        """How many times the reward was redeemed; None when there is no such reward."""

    async def save_reward(self, reward: RewardToLoad) -> None:
        """The reward of this code, created (offered, none redeemed) or updated."""

    async def product_kind(self, code: str) -> str | None:
        """The kind of the catalogue's product of this code; None when there is none."""
