"""/privacy: what is kept and why; /export_my_data: a copy of it as a JSON document;
/delete_my_data: erase personal data after confirmation."""

from __future__ import annotations

import math
from dataclasses import dataclass

from domain.orders import CHINA
from domain.referrals import RewardKind, RewardStatus
from domain.services.privacy import ExportTooSoon
from handlers.buttons import ButtonData
from handlers.contract import Button, Document, RemoveKeyboard, Reply
from handlers.features.referrals import reward_text
from handlers.menu import back_to_menu, show_menu
from handlers.router import Context, ConversationRouter

CONFIRMING = "privacy.confirm_erase"


@dataclass(frozen=True)
class ShowPrivacy(ButtonData, prefix="priv"):
    pass


@dataclass(frozen=True)
class ExportData(ButtonData, prefix="mydata"):
    pass


@dataclass(frozen=True)
class AskErase(ButtonData, prefix="erase?"):
    pass


@dataclass(frozen=True)
class AnswerErase(ButtonData, prefix="erase"):
    confirmed: bool


def _privacy_text(ctx: Context) -> str:
    """What is kept and why, for how long, and where it goes (Telegram's servers)."""
    return ctx.t("privacy.text") + "\n\n" + ctx.t("privacy.where")


def _privacy_buttons(ctx: Context) -> tuple[tuple[Button, ...], ...]:
    return (
        (Button(ctx.t("export.button"), ExportData().pack()),),
        (Button(ctx.t("erase.button"), AskErase().pack()),),
        back_to_menu(ctx.t),
    )


async def _export(ctx: Context) -> None:
    """The customer's data as a JSON document in their chat, or when they may ask again."""
    result = await ctx.services.privacy.export(ctx.customer.id)
    if isinstance(result, ExportTooSoon):
        minutes = max(1, math.ceil(result.wait.total_seconds() / 60))
        ctx.reply(ctx.t.plural("export.too_soon", minutes), (back_to_menu(ctx.t),))
        return
    name = f"my-data-{result.at.astimezone(CHINA):%Y%m%d-%H%M%S}.json"
    document = Document(name, result.content, mime_type="application/json")
    ctx.outcome.replies.append(Reply(ctx.t("export.caption"), document=document))


async def losses_text(ctx: Context) -> str:
    """What erasing takes from the customer for good: the wallet balance, the points, the
    invitation rewards not claimed yet (under review or claimable) and the coupons redeemed
    with points and not used yet."""
    t, customer_id = ctx.t, ctx.customer.id
    balance = await ctx.services.wallet.balance(customer_id)
    points, _ = await ctx.services.loyalty.balance(customer_id)
    rewards = []
    for reward in await ctx.services.referrals.unclaimed(customer_id):
        what = (
            t("erase.reward_coupon")
            if reward.kind is RewardKind.COUPON
            else reward_text(t, reward.kind, reward.points, reward.amount.format(), None)
        )
        if reward.status is RewardStatus.PENDING:
            what = t("erase.reward_under_review", reward=what)
        rewards.append(what)
    coupons = [
        t("erase.coupon", name=c.name(ctx.language.value), value=c.value.format())
        for c in await ctx.services.rewards.coupons(customer_id)
    ]
    return t(
        "erase.losses",
        balance=balance.format(),
        points=points,
        rewards=t("erase.list_separator").join(rewards) if rewards else t("erase.no_rewards"),
        # coupons redeemed with points and not used yet
        coupons="\n" + t("erase.coupons", coupons=t("erase.list_separator").join(coupons))
        if coupons
        else "",
    )


async def _ask(ctx: Context) -> None:
    ctx.go(CONFIRMING)
    ctx.reply(
        f"{await losses_text(ctx)}\n\n{ctx.t('erase.confirm')}",
        (
            (
                Button(ctx.t("erase.yes"), AnswerErase(True).pack()),
                Button(ctx.t("erase.no"), AnswerErase(False).pack()),
            ),
        ),
    )


def register(router: ConversationRouter) -> None:
    router.menu_entry(85, "menu.privacy", ShowPrivacy())

    @router.command("privacy")
    async def privacy_command(ctx: Context) -> None:
        ctx.reply(_privacy_text(ctx), _privacy_buttons(ctx))

    @router.button(ShowPrivacy)
    async def privacy_button(ctx: Context, _data: ShowPrivacy) -> None:
        ctx.reply(_privacy_text(ctx), _privacy_buttons(ctx), edit=True)

    @router.command("export_my_data")
    async def export_command(ctx: Context) -> None:
        await _export(ctx)

    @router.button(ExportData)
    async def export_button(ctx: Context, _data: ExportData) -> None:
        await _export(ctx)

    @router.command("delete_my_data")
    async def delete_command(ctx: Context) -> None:
        await _ask(ctx)

    @router.button(AskErase)
    async def delete_button(ctx: Context, _data: AskErase) -> None:
        await _ask(ctx)

    @router.button(AnswerErase)
    async def answer(ctx: Context, data: AnswerErase) -> None:
        if ctx.state.step != CONFIRMING:
            # An old confirmation button: erasing needs a fresh, deliberate confirmation.
            ctx.notice(ctx.t("button.expired"))
            show_menu(ctx, router)
            return
        if not data.confirmed:
            ctx.finish()
            ctx.reply(ctx.t("erase.kept"), edit=True)
            show_menu(ctx, router)
            return
        await ctx.services.customers.erase_personal_data(ctx.customer.id)
        ctx.keep_state = False
        ctx.reply(ctx.t("erase.done"), edit=True)
        ctx.reply(ctx.t("erase.goodbye"), keyboard=RemoveKeyboard())
