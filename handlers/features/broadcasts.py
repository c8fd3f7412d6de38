"""Campaign pushes as customers see them: the push itself (its text in their language, up to
three buttons into the bot, and "turn pushes off"), and `/notifications` to turn them on or
off. Turning them off stops every push queued for the customer at once."""

from __future__ import annotations

from dataclasses import dataclass

from domain.broadcasts import DEEP_LINK_PREFIX, PushTarget, deep_link_payload, parse_deep_link
from domain.services.broadcasts import DuePush
from handlers.buttons import ButtonData
from handlers.contract import Button, Reply
from handlers.features.offers import ShowOffers
from handlers.features.recharge import ShowRecharge
from handlers.i18n import Texts
from handlers.menu import back_to_menu
from handlers.router import Context, ConversationRouter


@dataclass(frozen=True)
class PushesOff(ButtonData, prefix="psh-0"):
    """Campaign pushes off (the button on every push, and on /notifications)."""


@dataclass(frozen=True)
class PushesOn(ButtonData, prefix="psh-1"):
    """Campaign pushes on again."""


@dataclass(frozen=True)
class PushOpen(ButtonData, prefix="psh-go"):
    """A push's button: leads into the bot (offers, recharge, survey) for broadcast N."""

    broadcast_id: int
    target: PushTarget


@dataclass(frozen=True)
class SurveyRate(ButtonData, prefix="svy"):
    """A rating (1-5) of the campaign a survey push asks about."""

    broadcast_id: int
    rating: int


@dataclass(frozen=True)
class SurveySkip(ButtonData, prefix="svy-x"):
    """No comment beside the rating."""

    broadcast_id: int


COMMENTING = "survey.comment"

TARGET_LABELS = {
    PushTarget.OFFERS: "push.button.offers",
    PushTarget.RECHARGE: "push.button.recharge",
    PushTarget.SURVEY: "push.button.survey",
}


def push_link(bot_username: str, broadcast_id: int, target: PushTarget) -> str:
    """The deep link of a push's button: t.me/<bot>?start=push_<broadcast>_<target>."""
    payload = deep_link_payload(broadcast_id, target)
    return f"https://t.me/{bot_username.lstrip('@')}?start={payload}"


def push_button(t: Texts, push: DuePush, target: PushTarget, bot_username: str | None) -> Button:
    """A button of the push: a deep link when the push asks for links and the bot's name is
    known, else typed button data (the same screen either way)."""
    label = t(TARGET_LABELS[target])
    if push.links and bot_username:
        return Button(label, url=push_link(bot_username, push.broadcast_id, target))
    return Button(label, PushOpen(push.broadcast_id, target).pack())


def push_reply(t: Texts, push: DuePush, bot_username: str | None = None) -> Reply:
    """The push as the customer reads it: its text (a picture's caption when it has one), its
    buttons, and a one-tap way out; an urgent push is sent as a paid broadcast."""
    rows = [(push_button(t, push, target, bot_username),) for target in push.targets]
    rows.append((Button(t("push.off_button"), PushesOff().pack()),))
    return Reply(push.text, tuple(rows), photo=push.photo, paid_broadcast=push.paid)


async def open_push(ctx: Context, router: ConversationRouter, data: PushOpen) -> None:
    """What a push's button leads to: offers, recharge or the survey's question."""
    if data.target is PushTarget.OFFERS:
        await router.press(ctx, ShowOffers())
    elif data.target is PushTarget.RECHARGE:
        await router.press(ctx, ShowRecharge())
    else:
        await _ask_rating(ctx, data.broadcast_id)


async def open_deep_link(ctx: Context, router: ConversationRouter) -> bool:
    """`/start push_<broadcast>_<target>`: the push's deep link leads to the same screen as its
    button. False when the payload is no push link at all; a malformed or unknown one is told
    so (True)."""
    payload = ctx.event.args.strip()
    if not payload.startswith(DEEP_LINK_PREFIX):
        return False
    parsed = parse_deep_link(payload)
    if parsed is None or not await ctx.services.broadcasts.opened(parsed[0], ctx.customer.id):
        ctx.reply(ctx.t("push.bad_link"))
        return True
    await open_push(ctx, router, PushOpen(*parsed))
    return True


async def _show_notifications(ctx: Context, *, edit: bool) -> None:
    on = await ctx.services.broadcasts.pushes_on(ctx.customer.id)
    if on:
        text, switch = ctx.t("notifications.on"), Button(ctx.t("push.off"), PushesOff().pack())
    else:
        text, switch = ctx.t("notifications.off"), Button(ctx.t("push.on"), PushesOn().pack())
    ctx.reply(text, ((switch,), back_to_menu(ctx.t)), edit=edit)


def register(router: ConversationRouter) -> None:
    @router.command("notifications")
    async def notifications(ctx: Context) -> None:
        await _show_notifications(ctx, edit=False)

    @router.button(PushesOff)
    async def pushes_off(ctx: Context, _data: PushesOff) -> None:
        await ctx.services.broadcasts.turn_pushes(ctx.customer.id, on=False)
        ctx.notice(ctx.t("push.turned_off"))
        await _show_notifications(ctx, edit=False)

    @router.button(PushesOn)
    async def pushes_on(ctx: Context, _data: PushesOn) -> None:
        await ctx.services.broadcasts.turn_pushes(ctx.customer.id, on=True)
        ctx.notice(ctx.t("push.turned_on"))
        await _show_notifications(ctx, edit=True)

    @router.button(PushOpen)
    async def push_open(ctx: Context, data: PushOpen) -> None:
        await ctx.services.broadcasts.pressed(data.broadcast_id, ctx.customer.id)
        await open_push(ctx, router, data)

    @router.button(SurveyRate)
    async def survey_rate(ctx: Context, data: SurveyRate) -> None:
        if not await ctx.services.broadcasts.rate(data.broadcast_id, ctx.customer.id, data.rating):
            ctx.notice(ctx.t("survey.already"))
            return
        ctx.go(COMMENTING, broadcast=data.broadcast_id)
        skip = Button(ctx.t("survey.skip"), SurveySkip(data.broadcast_id).pack())
        ctx.reply(ctx.t("survey.ask_comment", stars="⭐" * data.rating), ((skip,),), edit=True)

    @router.button(SurveySkip)
    async def survey_skip(ctx: Context, _data: SurveySkip) -> None:
        ctx.finish()
        ctx.reply(ctx.t("survey.thanks"), (back_to_menu(ctx.t),), edit=True)

    @router.step(COMMENTING)
    async def survey_comment(ctx: Context) -> None:
        broadcast_id = ctx.state.data.get("broadcast")
        text = ctx.event.text.strip()
        if not isinstance(broadcast_id, int) or not text:
            ctx.finish()
            ctx.reply(ctx.t("survey.thanks"), (back_to_menu(ctx.t),))
            return
        await ctx.services.broadcasts.comment(broadcast_id, ctx.customer.id, text)
        ctx.finish()
        ctx.reply(ctx.t("survey.thanks"), (back_to_menu(ctx.t),))


async def _ask_rating(ctx: Context, broadcast_id: int) -> None:
    """The survey's question: 1 to 5 stars for the campaign."""
    campaign = await ctx.services.broadcasts.survey_of(broadcast_id)
    name = campaign.name(ctx.language) if campaign else ctx.t("survey.this_campaign")
    stars = tuple(
        Button("⭐" * rating, SurveyRate(broadcast_id, rating).pack()) for rating in range(1, 6)
    )
    ctx.reply(ctx.t("survey.ask", name=name), tuple((star,) for star in stars))
