"""/offers: the live offers with their countdowns and slots left, terms one tap away."""

from __future__ import annotations

from dataclasses import dataclass

from domain.campaigns import Campaign, OfferKind
from domain.languages import Language
from domain.services.loyalty import LiveOffer
from handlers.buttons import ButtonData
from handlers.contract import MAX_KEYBOARD_BUTTONS, MAX_MESSAGE_CHARS, Button, text_length
from handlers.features.recharge import ShowRecharge
from handlers.menu import back_to_menu
from handlers.offers_text import campaign_name, countdown, live_offer_line
from handlers.paging import (
    MAX_BLOCK_LINES,
    Block,
    capped,
    lines_of,
    navigation,
    page_holding,
    page_line,
    page_of,
    paginate,
    rows_of,
)
from handlers.router import Context, ConversationRouter


@dataclass(frozen=True)
class ShowOffers(ButtonData, prefix="ofr"):
    pass


@dataclass(frozen=True)
class ShowTerms(ButtonData, prefix="ofr-t"):
    campaign: str


@dataclass(frozen=True)
class OffersPage(ButtonData, prefix="ofr-p"):
    """A page of the offers screen."""

    page: int


@dataclass(frozen=True)
class OffersOf(ButtonData, prefix="ofr-c"):
    """The page of the offers screen that shows this campaign (back from its terms)."""

    campaign: str


async def _show_offers(
    ctx: Context,
    *,
    edit: bool,
    page: int = 0,
    campaign: str | int | None = None,
) -> None:
    """The live offers, a page at a time: the page `page`, or the one showing `campaign` (its
    code or its id) when given."""
    live = await ctx.services.loyalty.live_offers(ctx.customer.id)
    if not live:
        ctx.reply(ctx.t("offers.none"), (back_to_menu(ctx.t),), edit=edit)
        return
    header = ctx.t("offers.header")
    footer = (
        (Button(ctx.t("offers.recharge_now"), ShowRecharge().pack()),),
        back_to_menu(ctx.t),
    )
    blocks, keys = await _campaign_blocks(ctx, live)
    pages = paginate(
        blocks,
        text_room=MAX_MESSAGE_CHARS - text_length(header) - 1,
        button_room=MAX_KEYBOARD_BUTTONS - sum(len(row) for row in footer),
    )
    wanted = next(
        (n for n, key in enumerate(keys) if campaign is not None and campaign in key), None
    )
    page = page_holding(pages, wanted) if wanted is not None else page_of(pages, page)
    first = sum(len(before) for before in pages[:page])
    shown = [campaign_id for _, campaign_id in keys[first : first + len(pages[page])]]
    await ctx.services.figures.saw_offers(
        ctx.customer.id, [c for c in shown if c is not None], ctx.services.loyalty.now()
    )
    lines = [header, *lines_of(pages[page]), *page_line(ctx.t, page, len(pages))]
    rows = [*rows_of(pages[page]), *navigation(ctx.t, page, len(pages), OffersPage), *footer]
    ctx.reply("\n".join(lines), tuple(rows), edit=edit)


async def _campaign_blocks(
    ctx: Context, live: list[LiveOffer]
) -> tuple[list[Block], list[tuple[str, int | None]]]:
    """One block a campaign: its name and countdown, its offers, and its buttons (terms, and
    "Remind me" for each time-limited offer and for the whole campaign); with each block, its
    campaign's code and id."""
    from handlers.features.reminders import remind_buttons

    now = ctx.services.loyalty.now()
    ids = {item.offer.code: (item.campaign_id, item.offer_id) for item in live}
    subscribed = await ctx.services.reminders.subscribed_scopes(ctx.customer.id)
    campaigns: dict[str, tuple[Campaign, list[LiveOffer]]] = {}
    for item in live:
        campaigns.setdefault(item.campaign.code, (item.campaign, []))[1].append(item)
    blocks: list[Block] = []
    keys: list[tuple[str, int | None]] = []
    for code, (campaign, items) in campaigns.items():
        name = campaign_name(campaign, ctx.language)
        left = countdown(ctx.t, campaign.ends_at - now)
        lines = [
            "\n" + ctx.t("offers.campaign", name=name, left=left),
            *capped(ctx.t, [live_offer_line(ctx.t, item) for item in items]),
        ]
        rows: list[tuple[Button, ...]] = [
            (Button(ctx.t("offers.terms", name=name), ShowTerms(code).pack()),)
        ]
        remindable = [
            (ids[item.offer.code][1], item.offer) for item in items if item.offer.code in ids
        ]
        campaign_id = next((ids[i.offer.code][0] for i in items if i.offer.code in ids), None)
        if campaign_id is not None:
            remind = remind_buttons(
                ctx.t, ctx.language, [(campaign_id, campaign, remindable)], subscribed
            )
            # The offers' own switches (as many as lines shown), then the campaign's switch.
            rows += [*remind[:-1][: MAX_BLOCK_LINES - 1], remind[-1]]
        blocks.append(Block(tuple(lines), tuple(rows)))
        keys.append((code, campaign_id))
    return blocks, keys


def register(router: ConversationRouter) -> None:
    router.menu_entry(8, "menu.offers", ShowOffers())

    @router.command("offers")
    async def offers_command(ctx: Context) -> None:
        await _show_offers(ctx, edit=False)

    router.keyword("优惠", "活动", "优惠活动", "offers", "deals")(offers_command)

    @router.button(ShowOffers)
    async def offers_button(ctx: Context, _data: ShowOffers) -> None:
        await _show_offers(ctx, edit=True)

    @router.button(OffersPage)
    async def offers_page(ctx: Context, data: OffersPage) -> None:
        await _show_offers(ctx, edit=True, page=data.page)

    @router.button(OffersOf)
    async def offers_of(ctx: Context, data: OffersOf) -> None:
        await _show_offers(ctx, edit=True, campaign=data.campaign)

    @router.button(ShowTerms)
    async def terms(ctx: Context, data: ShowTerms) -> None:
        campaign = await ctx.services.loyalty.campaign(data.campaign)
        if campaign is None:
            ctx.notice(ctx.t("button.expired"))
            await _show_offers(ctx, edit=True)
            return
        text = campaign.terms_en if ctx.language is Language.EN else campaign.terms_zh
        # A coupon offer is no use without its code: the terms say it and how to use it.
        codes = [
            ctx.t("offers.coupon_code", code=offer.coupon_code, use=ctx.t("coupon.use"))
            for offer in campaign.offers
            if offer.kind is OfferKind.COUPON and offer.coupon_code
        ]
        ctx.reply(
            "\n".join([campaign_name(campaign, ctx.language), text, *codes]),
            (
                (Button(ctx.t("offers.back"), OffersOf(campaign.code).pack()),),
                (Button(ctx.t("offers.recharge_now"), ShowRecharge().pack()),),
            ),
            edit=True,
        )


# The offers screen, shown again by features that change what it shows (reminders).
show_offers = _show_offers
