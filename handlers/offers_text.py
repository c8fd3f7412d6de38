"""How offers, countdowns, benefits and tiers read to a customer."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.campaigns import Campaign, Offer, OfferKind, Quote
from domain.languages import Language
from domain.orders import CHINA
from domain.services.loyalty import LiveOffer
from domain.tiers import Tier
from handlers.i18n import Texts


def campaign_name(campaign: Campaign, language: Language) -> str:
    return campaign.name_en if language is Language.EN else campaign.name_zh


def countdown(t: Texts, left: timedelta) -> str:
    """ "ends in 2 d 4 h", "ends in 3 h 5 min", "ends in 12 min"."""
    minutes = max(0, int(left.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return t("offers.ends_in_days", days=days, hours=hours)
    if hours:
        return t("offers.ends_in_hours", hours=hours, minutes=mins)
    return t("offers.ends_in_minutes", minutes=max(mins, 1))


def describe(t: Texts, offer: Offer) -> str:
    match offer.kind:
        case OfferKind.POINTS_MULTIPLIER:
            times = f"{offer.multiplier_percent / 100:g}"
            if offer.quota:
                return t.plural(
                    "offer.describe.multiplier_quota", offer.quota, times=times, quota=offer.quota
                )
            return t("offer.describe.multiplier", times=times)
        case OfferKind.RED_PACKET:
            return t(
                "offer.describe.red_packet",
                every=offer.every.format(),
                returns=offer.returns.format(),
            )
        case OfferKind.CASHBACK:
            text = t("offer.describe.cashback", percent=f"{offer.basis_points / 100:g}%")
            if offer.cap is not None:
                text += t("offer.describe.cap", cap=offer.cap.format())
            return text
        case OfferKind.FIRST_RECHARGE:
            return t.plural(
                "offer.describe.first_recharge",
                offer.bonus_points,
                bonus=offer.bonus.format(),
                points=offer.bonus_points,
            )
        case OfferKind.DENOMINATION_BONUS:
            steps = t("offer.describe.step_separator").join(
                t("offer.describe.step", minimum=low.format(), bonus=bonus.format())
                for low, bonus in offer.steps
            )
            return t("offer.describe.denomination", steps=steps)
        case OfferKind.BUNDLE:
            return t("offer.describe.bundle", discount=offer.discount.format())
        case OfferKind.COUPON:
            return t(
                "offer.describe.coupon",
                discount=offer.discount.format(),
                minimum=offer.min_amount.format(),
            )
    return ""


def live_offer_line(t: Texts, live: LiveOffer) -> str:
    line = "• " + describe(t, live.offer)
    if live.slots_left is not None and live.offer.quota:
        line += t("offers.slots_left", left=max(live.slots_left, 0), quota=live.offer.quota)
    return line


# Benefits listed one by one on a confirmation or a receipt; the rest are counted in one line
# (the totals of points, cash-back and price include them all).
MAX_BENEFIT_LINES = 10


def benefit_lines(t: Texts, quote: Quote) -> list[str]:
    explained = [b for b in quote.benefits if b.explanation]
    shown = explained if len(explained) <= MAX_BENEFIT_LINES else explained[: MAX_BENEFIT_LINES - 1]
    lines = ["• " + t(b.explanation, **dict(b.values)) for b in shown]
    if len(shown) < len(explained):
        lines.append(t.plural("offer.more_benefits", len(explained) - len(shown)))
    return lines


def earnings_line(t: Texts, quote: Quote) -> str:
    if quote.cashback.is_positive:
        return t.plural(
            "offer.earn_with_cashback",
            quote.points,
            points=quote.points,
            cashback=quote.cashback.format(),
        )
    return t.plural("offer.earn", quote.points, points=quote.points)


def tier_name(t: Texts, tier: Tier) -> str:
    return t(f"tier.{tier.key}")


def day(moment: datetime) -> str:
    return f"{moment.astimezone(CHINA):%Y-%m-%d}"
