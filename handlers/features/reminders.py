"""Countdown reminders: "Remind me" on offers, `/reminders`, the reminder message itself with its
one-tap unsubscribe and "recharge now", and `/deliveries` for staff."""

from __future__ import annotations

from dataclasses import dataclass

from domain.campaigns import Campaign, Offer
from domain.languages import Language
from domain.reminders import WHOLE_CAMPAIGN, ReminderKind
from domain.services.reminders import DueReminder
from handlers.buttons import ButtonData
from handlers.contract import MAX_KEYBOARD_BUTTONS, MAX_MESSAGE_CHARS, Button, Reply, text_length
from handlers.features.recharge import ShowRecharge
from handlers.i18n import Texts
from handlers.menu import back_to_menu, show_menu
from handlers.offers_text import campaign_name, countdown, describe
from handlers.paging import (
    Block,
    capped,
    lines_of,
    navigation,
    page_line,
    page_of,
    paginate,
    rows_of,
    shortened,
)
from handlers.router import Context, ConversationRouter

# Campaigns on one page of the staff's delivery figures.
MAX_DELIVERY_LINES = 20
# An offer named on a button: its description cut to this many characters.
MAX_LABEL_CHARS = 48


@dataclass(frozen=True)
class RemindOffer(ButtonData, prefix="rmd-o"):
    """Reminders of one offer on or off (for the customer who pressed it)."""

    offer_id: int


@dataclass(frozen=True)
class RemindCampaign(ButtonData, prefix="rmd-c"):
    """Every reminder of a campaign on or off."""

    campaign_id: int


@dataclass(frozen=True)
class StopReminders(ButtonData, prefix="rmd-x"):
    """No more reminders of this campaign (the button on each reminder)."""

    campaign_id: int


@dataclass(frozen=True)
class ReminderRecharge(ButtonData, prefix="rmd-r"):
    """ "Recharge now" on a reminder (the press is counted as the reminder opened)."""

    outbox_id: int


@dataclass(frozen=True)
class ReminderStop(ButtonData, prefix="rmd-s"):
    """ "No more reminders" on a reminder (the press is counted as the reminder opened)."""

    outbox_id: int
    campaign_id: int


@dataclass(frozen=True)
class ShowReminders(ButtonData, prefix="rmd"):
    pass


@dataclass(frozen=True)
class RemindersPage(ButtonData, prefix="rmd-p"):
    """A page of the customer's reminders."""

    page: int


@dataclass(frozen=True)
class DeliveriesPage(ButtonData, prefix="dlv-p"):
    """A page of the staff's reminder delivery figures."""

    page: int


def offer_label(t: Texts, offer: Offer) -> str:
    return describe(t, offer)


def remind_buttons(
    t: Texts,
    language: Language,
    campaigns: list[tuple[int, Campaign, list[tuple[int, Offer]]]],
    subscribed: set[tuple[int, str]],
) -> list[tuple[Button, ...]]:
    """On the offers screen: "Remind me" for each time-limited offer (one with a quota or its
    own expiry), and a switch for all reminders of each campaign."""
    rows: list[tuple[Button, ...]] = []
    for campaign_id, campaign, offers in campaigns:
        for offer_id, offer in offers:
            if offer.quota is None and offer.expires_at is None:
                continue
            on = (campaign_id, offer.code) in subscribed
            key = "reminders.offer_off" if on else "reminders.offer_on"
            label = t(key, offer=shortened(offer_label(t, offer), MAX_LABEL_CHARS))
            rows.append((Button(label, RemindOffer(offer_id).pack()),))
        on = (campaign_id, WHOLE_CAMPAIGN) in subscribed
        key = "reminders.campaign_off" if on else "reminders.campaign_on"
        label = t(key, name=campaign_name(campaign, language))
        rows.append((Button(label, RemindCampaign(campaign_id).pack()),))
    return rows


def reminder_reply(t: Texts, reminder: DueReminder) -> Reply:
    """The reminder as the customer reads it: time and slots left as of now, then "recharge now"
    and a one-tap unsubscribe."""
    campaign = reminder.campaign
    name = campaign_name(campaign, t.language)
    left = countdown(t, reminder.time_left)
    lines: list[str]
    if reminder.kind is ReminderKind.SLOTS_LEFT and reminder.offers:
        item = reminder.offers[0]
        lines = [
            t.plural(
                "reminders.slots_title",
                item.left or 0,
                name=name,
                left=item.left if item.left is not None else 0,
                offer=offer_label(t, item.offer),
            ),
            t("reminders.time_left", left=left),
        ]
    else:
        offers = []
        for item in reminder.offers:
            line = "• " + offer_label(t, item.offer)
            if item.left is not None and item.offer.quota:
                line += t("offers.slots_left", left=item.left, quota=item.offer.quota)
            offers.append(line)
        lines = [t("reminders.countdown_title", name=name, left=left), *capped(t, offers)]
    lines.append(t("reminders.call_to_action"))
    return Reply(
        "\n".join(lines),
        (
            (Button(t("offers.recharge_now"), ReminderRecharge(reminder.outbox_id).pack()),),
            (
                Button(
                    t("reminders.stop"),
                    ReminderStop(reminder.outbox_id, reminder.campaign_id).pack(),
                ),
            ),
        ),
    )


async def _show_reminders(ctx: Context, *, edit: bool, page: int = 0) -> None:
    """The customer's reminders, a campaign a block, a page at a time."""
    subscriptions = await ctx.services.reminders.subscriptions(ctx.customer.id)
    if not subscriptions:
        ctx.reply(ctx.t("reminders.none"), (back_to_menu(ctx.t),), edit=edit)
        return
    now = ctx.services.reminders.now()
    by_campaign: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    for item in subscriptions:
        name = campaign_name(item.campaign, ctx.language)
        what = (
            ctx.t("reminders.all_of_campaign")
            if item.offer is None
            else offer_label(ctx.t, item.offer)
        )
        left = countdown(ctx.t, item.campaign.ends_at - now)
        names[item.campaign_id] = name
        by_campaign.setdefault(item.campaign_id, []).append(
            ctx.t("reminders.item", name=name, what=what, left=left)
        )
    blocks = [
        Block(
            tuple(capped(ctx.t, lines)),
            (
                (
                    Button(
                        ctx.t("reminders.stop_campaign", name=names[campaign_id]),
                        StopReminders(campaign_id).pack(),
                    ),
                ),
            ),
        )
        for campaign_id, lines in by_campaign.items()
    ]
    header = ctx.t("reminders.header")
    footer = back_to_menu(ctx.t)
    pages = paginate(
        blocks,
        text_room=MAX_MESSAGE_CHARS - text_length(header) - 1,
        button_room=MAX_KEYBOARD_BUTTONS - len(footer),
    )
    page = page_of(pages, page)
    lines = [header, *lines_of(pages[page]), *page_line(ctx.t, page, len(pages))]
    rows = [*rows_of(pages[page]), *navigation(ctx.t, page, len(pages), RemindersPage), footer]
    ctx.reply("\n".join(lines), tuple(rows), edit=edit)


async def _show_deliveries(ctx: Context, *, edit: bool, page: int = 0) -> None:
    """Each campaign's reminder figures, for staff, a page at a time."""
    progress = await ctx.services.reminders.progress()
    if not progress:
        ctx.reply(ctx.t("deliveries.none"), edit=edit)
        return
    blocks = [
        Block(
            (
                _progress_line(
                    ctx.t,
                    ctx.language,
                    item.campaign,
                    {
                        "planned": item.planned,
                        "sent": item.sent,
                        "pending": item.pending,
                        "failed": item.failed,
                        "skipped": item.skipped,
                    },
                ),
            )
        )
        for item in progress
    ]
    header = ctx.t("deliveries.header")
    pages = paginate(
        blocks,
        text_room=MAX_MESSAGE_CHARS - text_length(header) - 1,
        per_page=MAX_DELIVERY_LINES,
    )
    page = page_of(pages, page)
    lines = [header, *lines_of(pages[page]), *page_line(ctx.t, page, len(pages))]
    ctx.reply("\n".join(lines), navigation(ctx.t, page, len(pages), DeliveriesPage), edit=edit)


def _progress_line(t: Texts, language: Language, campaign: Campaign, counts: dict[str, int]) -> str:
    return t("deliveries.item", name=campaign_name(campaign, language), **counts)


def register(router: ConversationRouter) -> None:
    @router.command("reminders")
    async def reminders_command(ctx: Context) -> None:
        await _show_reminders(ctx, edit=False)

    @router.button(ShowReminders)
    async def reminders_button(ctx: Context, _data: ShowReminders) -> None:
        await _show_reminders(ctx, edit=True)

    @router.button(RemindOffer)
    async def remind_offer(ctx: Context, data: RemindOffer) -> None:
        found = await ctx.services.reminders.offer_of(data.offer_id)
        if found is None:
            ctx.notice(ctx.t("button.expired"))
            return
        campaign_id, code = found
        on = await ctx.services.reminders.toggle(
            ctx.customer.id, ctx.event.chat_id, campaign_id, code
        )
        ctx.notice(ctx.t("reminders.on" if on else "reminders.off"))
        await _refresh_offers(ctx, campaign_id)

    @router.button(RemindCampaign)
    async def remind_campaign(ctx: Context, data: RemindCampaign) -> None:
        if not await ctx.services.reminders.campaign_exists(data.campaign_id):
            ctx.notice(ctx.t("button.expired"))
            return
        on = await ctx.services.reminders.toggle(
            ctx.customer.id, ctx.event.chat_id, data.campaign_id, WHOLE_CAMPAIGN
        )
        ctx.notice(ctx.t("reminders.on" if on else "reminders.off"))
        await _refresh_offers(ctx, data.campaign_id)

    @router.button(ReminderRecharge)
    async def reminder_recharge(ctx: Context, data: ReminderRecharge) -> None:
        await ctx.services.reminders.pressed(data.outbox_id, ctx.customer.id)
        await router.press(ctx, ShowRecharge())

    @router.button(ReminderStop)
    async def reminder_stop(ctx: Context, data: ReminderStop) -> None:
        await ctx.services.reminders.pressed(data.outbox_id, ctx.customer.id)
        await router.press(ctx, StopReminders(data.campaign_id))

    @router.button(StopReminders)
    async def stop(ctx: Context, data: StopReminders) -> None:
        await ctx.services.reminders.unsubscribe(ctx.customer.id, data.campaign_id)
        ctx.notice(ctx.t("reminders.off"))
        ctx.reply(
            ctx.t("reminders.stopped"),
            ((Button(ctx.t("reminders.list"), ShowReminders().pack()),), back_to_menu(ctx.t)),
        )

    @router.button(RemindersPage)
    async def reminders_page(ctx: Context, data: RemindersPage) -> None:
        await _show_reminders(ctx, edit=True, page=data.page)

    @router.command("deliveries", staff=True)
    async def deliveries(ctx: Context) -> None:
        if not await ctx.services.staff.is_staff(ctx.event.user.telegram_id):
            ctx.reply(ctx.t("command.unknown"))
            show_menu(ctx, router)
            return
        await _show_deliveries(ctx, edit=False)

    @router.button(DeliveriesPage)
    async def deliveries_page(ctx: Context, data: DeliveriesPage) -> None:
        if await ctx.staff_only():
            await _show_deliveries(ctx, edit=True, page=data.page)


async def _refresh_offers(ctx: Context, campaign_id: int) -> None:
    """Show the offers screen again, at the page of the campaign, with the buttons in their new
    state."""
    from handlers.features.offers import show_offers

    await show_offers(ctx, edit=True, campaign=campaign_id)
