"""Loading a campaign file: campaigns, offers and rewards created or updated by code in the unit
of work's transaction, their counters kept. Never committed here."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import select

from domain.persistence import offer_slots
from domain.persistence.core import Repository
from domain.persistence.tables import CampaignRow, OfferRow, ProductRow, RewardRow
from domain.repositories.campaign_files import (
    CampaignToLoad,
    LoadedOffer,
    OfferToLoad,
    RewardToLoad,
)


class CampaignFileRepository(Repository):
    async def save_campaign(self, campaign: CampaignToLoad) -> int:
        row = await self._session.scalar(
            select(CampaignRow).where(CampaignRow.code == campaign.code)
        )
        if row is None:
            row = CampaignRow(code=campaign.code)
            self._session.add(row)
        for name, value in asdict(campaign).items():
            setattr(row, name, value)
        await self._session.flush()
        return row.id

    async def _offer(self, code: str) -> OfferRow | None:
        return await self._session.scalar(select(OfferRow).where(OfferRow.code == code))

    async def offer(self, code: str) -> LoadedOffer | None:
        row = await self._offer(code)
        return LoadedOffer(row.campaign_id, row.used) if row is not None else None

    async def save_offer(self, offer: OfferToLoad) -> None:
        row = await self._offer(offer.code)
        if row is None:
            row = OfferRow(code=offer.code)
            self._session.add(row)
        for name, value in asdict(offer).items():
            setattr(row, name, value)
        await self._session.flush()
        # The shards' shares follow the quota and budget, each keeping what its shard took.
        await offer_slots.share_out(await self._core(), row.id, row.quota, row.budget_fen)

    async def _reward(self, code: str) -> RewardRow | None:
        return await self._session.scalar(select(RewardRow).where(RewardRow.code == code))

    async def redeemed(self, reward_code: str) -> int | None:
        row = await self._reward(reward_code)
        return row.redeemed if row is not None else None

    async def save_reward(self, reward: RewardToLoad) -> None:
        row = await self._reward(reward.code)
        if row is None:
            row = RewardRow(code=reward.code, redeemed=0, active=True)
            self._session.add(row)
        for name, value in asdict(reward).items():
            setattr(row, name, value)
        await self._session.flush()

    async def product_kind(self, code: str) -> str | None:
        return await self._session.scalar(select(ProductRow.kind).where(ProductRow.code == code))
