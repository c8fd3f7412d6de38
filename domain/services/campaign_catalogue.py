"""Loading a validated campaign file into the database: all of it, or nothing."""

from __future__ import annotations

from dataclasses import dataclass

from domain.campaign_file import CampaignFile, CampaignFileError, CampaignSpec, fen
from domain.campaigns import OfferKind
from domain.catalogue import ProductKind
from domain.clock import Clock, utc_now
from domain.repositories import UnitOfWork, UnitOfWorkFactory
from domain.repositories.campaign_files import CampaignToLoad, OfferToLoad, RewardToLoad
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
            files = uow.campaign_files
            for reward in file.rewards:
                redeemed = await files.redeemed(reward.code)
                if reward.stock is not None and redeemed is not None and redeemed > reward.stock:
                    raise CampaignFileError(
                        f"rewards.{reward.code}: stock {reward.stock} is below the "
                        f"{redeemed} already redeemed",
                        None,
                    )
                if reward.product is not None and (
                    await files.product_kind(reward.product) != ProductKind.DATA.value
                ):
                    raise CampaignFileError(
                        f"rewards.{reward.code}: product {reward.product!r} is no data pack "
                        "of the catalogue",
                        None,
                    )
                value = fen(reward.value_yuan)
                await files.save_reward(
                    RewardToLoad(
                        code=reward.code,
                        kind=reward.kind,
                        name_zh=reward.name_zh,
                        name_en=reward.name_en,
                        cost_points=reward.cost_points,
                        stock=reward.stock,
                        per_customer=reward.per_customer,
                        value_fen=value.fen if value is not None else None,
                        valid_days=reward.valid_days,
                        product_code=reward.product,
                    )
                )
            await uow.commit()
        return LoadReport(len(file.campaigns), offers, len(file.rewards))

    async def _campaign(self, uow: UnitOfWork, spec: CampaignSpec) -> int:
        campaign = spec.to_campaign()
        files = uow.campaign_files
        extra: dict[str, object] = {
            "countdown_minutes": spec.countdown_minutes,
            "slots_left_reminders": spec.slots_left_reminders,
            "holdout_percent": spec.holdout_percent,
        }
        if spec.referral is not None:
            extra["referral"] = spec.referral.to_rules().to_json()
        if spec.risk is not None:
            extra["risk"] = spec.risk.to_limits().to_json()
        campaign_id = await files.save_campaign(
            CampaignToLoad(
                code=spec.code,
                name_zh=campaign.name_zh,
                name_en=campaign.name_en,
                terms_zh=campaign.terms_zh,
                terms_en=campaign.terms_en,
                starts_at=campaign.starts_at,
                ends_at=campaign.ends_at,
                timezone=campaign.timezone,
                status=campaign.status.value,
                audience=campaign.audience.value,
                audience_tier=campaign.audience_tier.key if campaign.audience_tier else None,
                audience_carrier=(
                    campaign.audience_carrier.value if campaign.audience_carrier else None
                ),
                priority=campaign.priority,
                exclusive=campaign.exclusive,
                extra=extra,
                loaded_at=self._clock(),
            )
        )
        for offer in campaign.offers:
            existing = await files.offer(offer.code)
            if existing is not None and existing.campaign_id != campaign_id:
                raise CampaignFileError(
                    f"offer {offer.code} belongs to another campaign already", None
                )
            if offer.quota is not None and existing is not None and existing.used > offer.quota:
                raise CampaignFileError(
                    f"offer {offer.code}: quota {offer.quota} is below the {existing.used} "
                    "slots already taken",
                    None,
                )
            if offer.kind is OfferKind.BUNDLE and (
                await files.product_kind(offer.bundle_product or "") != ProductKind.DATA.value
            ):
                raise CampaignFileError(
                    f"offer {offer.code}: bundle_product {offer.bundle_product} is not a "
                    "data pack of the catalogue",
                    None,
                )
            await files.save_offer(
                OfferToLoad(
                    code=offer.code,
                    campaign_id=campaign_id,
                    kind=offer.kind.value,
                    params=offer_params(offer),
                    quota=offer.quota,
                    per_customer=offer.per_customer,
                    budget_fen=offer.budget.fen if offer.budget else None,
                )
            )
        return len(campaign.offers)
