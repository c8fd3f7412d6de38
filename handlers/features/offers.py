"""/offers: the live offers with their countdowns and slots left, terms one tap away."""

from __future__ import annotations

from dataclasses import dataclass

from domain.campaigns import Campaign, Offer
from domain.languages import Language
from domain.services.loyalty import LiveOffer
from handlers.buttons import ButtonData
from handlers.contract import Button
from handlers.features.recharge import ShowRecharge
from handlers.menu import back_to_menu
from handlers.offers_text import campaign_name, countdown, live_offer_line
from handlers.router import Context, ConversationRouter


@dataclass(frozen=True)
class ShowOffers(ButtonData, prefix="ofr"):
    pass


@dataclass(frozen=True)
class ShowTerms(ButtonData, prefix="ofr-t"):
    campaign: str


async def _show_offers(ctx: Context, *, edit: bool) -> None:
    live = await ctx.services.loyalty.live_offers()
    if not live:
        ctx.reply(ctx.t("offers.none"), (back_to_menu(ctx.t),), edit=edit)
        return
    now = ctx.services.loyalty.now()
    lines = [ctx.t("offers.header")]
    campaigns: dict[str, Campaign] = {}
    for item in live:
        if item.campaign.code not in campaigns:
            campaigns[item.campaign.code] = item.campaign
            left = countdown(ctx.t, item.campaign.ends_at - now)
            name = campaign_name(item.campaign, ctx.language)
            lines.append("\n" + ctx.t("offers.campaign", name=name, left=left))
        lines.append(live_offer_line(ctx.t, item))
    rows: list[tuple[Button, ...]] = [
        (
            Button(
                ctx.t("offers.terms", name=campaign_name(c, ctx.language)), ShowTerms(c.code).pack()
            ),
        )
        for c in campaigns.values()
    ]
    rows.extend(await _remind_rows(ctx, live))
    rows.append((Button(ctx.t("offers.recharge_now"), ShowRecharge().pack()),))
    rows.append(back_to_menu(ctx.t))
    ctx.reply("\n".join(lines), tuple(rows), edit=edit)


async def _remind_rows(ctx: Context, live: list[LiveOffer]) -> list[tuple[Button, ...]]:
    """ "Remind me" buttons: each time-limited offer, and all reminders of each campaign."""
    from handlers.features.reminders import remind_buttons

    ids = await ctx.services.reminders.offer_ids()
    subscribed = await ctx.services.reminders.subscribed_scopes(ctx.customer.id)
    campaigns: dict[int, tuple[int, Campaign, list[tuple[int, Offer]]]] = {}
    for item in live:
        if item.offer.code not in ids:
            continue
        campaign_id, offer_id = ids[item.offer.code]
        entry = campaigns.setdefault(campaign_id, (campaign_id, item.campaign, []))
        entry[2].append((offer_id, item.offer))
    return remind_buttons(ctx.t, ctx.language, list(campaigns.values()), subscribed)


def register(router: ConversationRouter) -> None:
    router.menu_entry(8, "menu.offers", ShowOffers())

    @router.command("offers")
    async def offers_command(ctx: Context) -> None:
        await _show_offers(ctx, edit=False)

    @router.button(ShowOffers)
    async def offers_button(ctx: Context, _data: ShowOffers) -> None:
        await _show_offers(ctx, edit=True)

    @router.button(ShowTerms)
    async def terms(ctx: Context, data: ShowTerms) -> None:
        campaign = await ctx.services.loyalty.campaign(data.campaign)
        if campaign is None:
            ctx.notice(ctx.t("button.expired"))
            await _show_offers(ctx, edit=True)
            return
        text = campaign.terms_en if ctx.language is Language.EN else campaign.terms_zh
        ctx.reply(
            f"{campaign_name(campaign, ctx.language)}\n{text}",
            (
                (Button(ctx.t("offers.back"), ShowOffers().pack()),),
                (Button(ctx.t("offers.recharge_now"), ShowRecharge().pack()),),
            ),
            edit=True,
        )


# The offers screen, shown again by features that change what it shows (reminders).
show_offers = _show_offers
