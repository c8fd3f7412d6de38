"""Loading a validated campaign file into the database: all of it, or nothing."""

from __future__ import annotations

from dataclasses import dataclass

from domain.campaign_file import CampaignFile, CampaignFileError, CampaignSpec, fen
from domain.campaigns import OfferKind
from domain.catalogue import ProductKind
from domain.clock import Clock, utc_now
from domain.persistence.tables import CampaignRow, OfferRow, RewardRow
from domain.persistence.unit_of_work import UnitOfWork, UnitOfWorkFactory
from domain.services.loyalty import offer_params


@dataclass(frozen=True)
class LoadReport:
    campaigns: int
    offers: int
    rewards: int


class CampaignCatalogue:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock = utc_now) -> None:
        self._uow = uow
        self._clock = clock

    async def load(self, file: CampaignFile) -> LoadReport:
        """Create or update every campaign, offer and reward of the file in one transaction.

        Counters already used (slots taken, budget spent, rewards redeemed) are kept; a quota or
        stock below what is already used is refused, and then nothing is loaded.
        """
        async with self._uow() as uow:
            offers = 0
            for spec in file.campaigns:
                offers += await self._campaign(uow, spec)
            for reward in file.rewards:
                row = await uow.rewards.by_code(reward.code)
                if row is None:
                    row = RewardRow(code=reward.code, redeemed=0, active=True)
                    uow.rewards.add(row)
                if reward.stock is not None and row.redeemed > reward.stock:
                    raise CampaignFileError(
                        f"rewards.{reward.code}: stock {reward.stock} is below the "
                        f"{row.redeemed} already redeemed",
                        None,
                    )
                row.kind = reward.kind
                row.name_zh, row.name_en = reward.name_zh, reward.name_en
                row.cost_points = reward.cost_points
                row.stock, row.per_customer = reward.stock, reward.per_customer
                value = fen(reward.value_yuan)
                row.value_fen = value.fen if value is not None else None
                row.valid_days = reward.valid_days
                row.product_code = reward.product
                if reward.product is not None:
                    pack = await uow.products.by_code(reward.product)
                    if pack is None or pack.kind != ProductKind.DATA.value:
                        raise CampaignFileError(
                            f"rewards.{reward.code}: product {reward.product!r} is no data pack "
                            "of the catalogue",
                            None,
                        )
            await uow.commit()
        return LoadReport(len(file.campaigns), offers, len(file.rewards))

    async def _campaign(self, uow: UnitOfWork, spec: CampaignSpec) -> int:
        campaign = spec.to_campaign()
        row = await uow.campaigns.by_code(spec.code)
        if row is None:
            row = CampaignRow(code=spec.code)
            uow.campaigns.add(row)
        row.name_zh, row.name_en = campaign.name_zh, campaign.name_en
        row.terms_zh, row.terms_en = campaign.terms_zh, campaign.terms_en
        row.starts_at, row.ends_at = campaign.starts_at, campaign.ends_at
        row.timezone, row.status = campaign.timezone, campaign.status.value
        row.audience = campaign.audience.value
        row.audience_tier = campaign.audience_tier.key if campaign.audience_tier else None
        row.audience_carrier = (
            campaign.audience_carrier.value if campaign.audience_carrier else None
        )
        row.priority, row.exclusive = campaign.priority, campaign.exclusive
        row.extra = {
            "countdown_minutes": spec.countdown_minutes,
            "slots_left_reminders": spec.slots_left_reminders,
            "holdout_percent": spec.holdout_percent,
        }
        if spec.referral is not None:
            row.extra = {**row.extra, "referral": spec.referral.to_rules().to_json()}
        row.loaded_at = self._clock()
        await uow.campaigns.flush()
        for offer in campaign.offers:
            existing = await uow.campaigns.offer_to_edit(offer.code)
            if existing is not None and existing.campaign_id != row.id:
                raise CampaignFileError(
                    f"offer {offer.code} belongs to another campaign already", None
                )
            target = existing or OfferRow(code=offer.code, used=0, spent_fen=0)
            if existing is None:
                uow.campaigns.add(target)
            if offer.quota is not None and target.used > offer.quota:
                raise CampaignFileError(
                    f"offer {offer.code}: quota {offer.quota} is below the {target.used} "
                    "slots already taken",
                    None,
                )
            if offer.kind is OfferKind.BUNDLE:
                pack = await uow.products.by_code(offer.bundle_product or "")
                if pack is None or pack.kind != ProductKind.DATA.value:
                    raise CampaignFileError(
                        f"offer {offer.code}: bundle_product {offer.bundle_product} is not a "
                        "data pack of the catalogue",
                        None,
                    )
            target.campaign_id = row.id
            target.kind = offer.kind.value
            target.params = offer_params(offer)
            target.quota, target.per_customer = offer.quota, offer.per_customer
            target.budget_fen = offer.budget.fen if offer.budget else None
        await uow.campaigns.flush()
        return len(campaign.offers)
