"""/points: balance, tier and progress, recent entries, points lapsing soon; redeem rewards."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.phone import PhoneNumber, PhoneNumberError, parse_phone_number
from domain.services.loyalty import RedeemRefused, Reward, RewardCoupon
from handlers.buttons import ButtonData
from handlers.contract import MAX_KEYBOARD_BUTTONS, Button, Reply
from handlers.features.pin import ask_pin, read_pin
from handlers.features.recharge import show_receipt
from handlers.i18n import Texts
from handlers.menu import back_to_menu
from handlers.offers_text import day, tier_name
from handlers.paging import Block, navigation, page_line, page_of, paginate, rows_of
from handlers.router import Context, ConversationRouter

WARN_WITHIN = timedelta(days=30)
PIN_TO_REDEEM = "pin.redeem"  # the same data as CONFIRMING, while the PIN is asked
CONFIRMING = "points.confirm_redeem"  # data: {"reward": id, "nonce": n[, "phone": digits]}
TYPING_NUMBER = "points.reward_number"  # data: {"reward": id}: a data pack's number


@dataclass(frozen=True)
class ShowPoints(ButtonData, prefix="pts"):
    pass


@dataclass(frozen=True)
class ShowRewards(ButtonData, prefix="rwd"):
    pass


@dataclass(frozen=True)
class RewardsPage(ButtonData, prefix="rwd-p"):
    """A page of the rewards to redeem points for."""

    page: int


@dataclass(frozen=True)
class AskRedeem(ButtonData, prefix="rwd?"):
    reward_id: int


@dataclass(frozen=True)
class RewardTo(ButtonData, prefix="rwd#"):
    """Top the data pack up to one of the customer's bound numbers."""

    reward_id: int
    binding_id: int


@dataclass(frozen=True)
class RewardOtherNumber(ButtonData, prefix="rwd+"):
    """Top the data pack up to a number the customer types."""

    reward_id: int


@dataclass(frozen=True)
class ConfirmRedeem(ButtonData, prefix="rwd!"):
    reward_id: int
    nonce: int


def lapse_warning(t: Texts, points: int, when: datetime) -> Reply:
    """The notice a customer gets before their points lapse."""
    return Reply(
        t("points.lapse_warning", points=points, day=day(when - timedelta(seconds=1))),
        (
            (Button(t("points.redeem"), ShowRewards().pack()),),
            (Button(t("menu.points"), ShowPoints().pack()),),
        ),
    )


async def _show_points(ctx: Context, *, edit: bool) -> None:
    standing = await ctx.services.loyalty.standing(ctx.customer.id, WARN_WITHIN)
    lines = [
        ctx.t("points.balance", points=standing.points),
        ctx.t("points.tier", tier=tier_name(ctx.t, standing.tier.tier)),
    ]
    if standing.next_tier is not None:
        rule, gap = standing.next_tier
        lines.append(
            ctx.t("points.next_tier", amount=gap.format(), tier=tier_name(ctx.t, rule.tier))
        )
    else:
        lines.append(ctx.t("points.top_tier"))
    if standing.expiring_soon and standing.expiring_by is not None:
        lines.append(
            ctx.t.plural(
                "points.expiring",
                standing.expiring_soon,
                points=standing.expiring_soon,
                day=day(standing.expiring_by - timedelta(seconds=1)),
            )
        )
    lines += coupon_lines(ctx.t, await ctx.services.rewards.coupons(ctx.customer.id), ctx)
    entries = await ctx.services.loyalty.entries(ctx.customer.id)
    if entries:
        lines.append(ctx.t("points.recent"))
        lines += [
            ctx.t(f"points.entry.{kind}", points=abs(points), day=day(at))
            for points, kind, at in entries
        ]
    buttons = ((Button(ctx.t("points.redeem"), ShowRewards().pack()),), back_to_menu(ctx.t))
    ctx.reply("\n".join(lines), buttons, edit=edit)


def coupon_lines(t: Texts, coupons: list[RewardCoupon], ctx: Context) -> list[str]:
    """The customer's coupons still to use: what each takes off and until when."""
    if not coupons:
        return []
    return [t("points.coupons")] + [
        t(
            "points.coupon",
            name=coupon.name(ctx.language.value),
            value=coupon.value.format(),
            day=day(coupon.expires_at - timedelta(seconds=1)),
        )
        for coupon in coupons
    ]


def reward_terms(ctx: Context, reward: Reward) -> str:
    """What redeeming the reward delivers."""
    if reward.kind == "coupon" and reward.value is not None:
        return ctx.t.plural(
            "rewards.coupon_terms",
            reward.valid_days or 0,
            value=reward.value.format(),
            days=reward.valid_days,
        )
    return ctx.t("rewards.data_terms")


async def _show_rewards(ctx: Context, *, edit: bool, page: int = 0) -> None:
    """The rewards, ten a page, each a button to redeem it; those the customer's points do not
    reach are shown locked (a tap says how many points are missing)."""
    rewards = await ctx.services.rewards.rewards()
    balance, _ = await ctx.services.loyalty.balance(ctx.customer.id)
    if not rewards:
        ctx.reply(ctx.t("rewards.none"), (back_to_menu(ctx.t),), edit=edit)
        return
    blocks: list[Block] = []
    for reward in rewards:
        label = ctx.t.plural(
            "rewards.item" if reward.cost_points <= balance else "rewards.locked",
            reward.cost_points,
            name=reward.name(ctx.language.value),
            points=reward.cost_points,
        )
        if reward.left is not None:
            label += ctx.t("rewards.left", left=max(reward.left, 0))
        blocks.append(Block((), ((Button(label, AskRedeem(reward.id).pack()),),)))
    pages = paginate(blocks, button_room=MAX_KEYBOARD_BUTTONS - 1)
    page = page_of(pages, page)
    rows = [
        *rows_of(pages[page]),
        *navigation(ctx.t, page, len(pages), RewardsPage),
        (Button(ctx.t("points.back"), ShowPoints().pack()),),
    ]
    header = [ctx.t.plural("rewards.header", balance, points=balance)]
    if any(reward.cost_points > balance for reward in rewards):
        header.append(ctx.t("rewards.locked_note"))
    text = "\n".join([*header, *page_line(ctx.t, page, len(pages))])
    ctx.reply(text, tuple(rows), edit=edit)


async def _reward(ctx: Context, reward_id: int) -> Reward | None:
    return next((r for r in await ctx.services.rewards.rewards() if r.id == reward_id), None)


def _back_to_rewards(ctx: Context) -> Button:
    return Button(ctx.t("rewards.no"), ShowRewards().pack())


def _confirm_text(ctx: Context, reward: Reward, balance: int) -> str:
    """What the redemption costs, what is left after, and what it delivers."""
    cost = ctx.t.plural(
        "rewards.confirm",
        reward.cost_points,
        name=reward.name(ctx.language.value),
        points=reward.cost_points,
        balance=balance,
        left=balance - reward.cost_points,
    )
    return cost + "\n" + reward_terms(ctx, reward)


async def _choose_number(ctx: Context, reward: Reward, balance: int) -> None:
    """A data pack: which number to top it up to (a bound one, or one to type)."""
    phones = await ctx.services.customers.phones(ctx.customer.id)
    rows: list[tuple[Button, ...]] = [
        (Button(ctx.t("rewards.to", number=p.masked), RewardTo(reward.id, p.id).pack()),)
        for p in phones
    ]
    rows.append((Button(ctx.t("rewards.other_number"), RewardOtherNumber(reward.id).pack()),))
    rows.append((_back_to_rewards(ctx),))
    text = _confirm_text(ctx, reward, balance) + "\n" + ctx.t("rewards.choose_number")
    ctx.reply(text, tuple(rows), edit=True)


async def _number_chosen(ctx: Context, reward: Reward, number: PhoneNumber, *, edit: bool) -> None:
    carrier = ctx.t(f"carrier.{number.carrier}")
    if number.carrier not in ctx.services.ordering.config.served_carriers:
        ctx.reply(ctx.t("recharge.carrier_not_served", carrier=carrier))
        return
    balance, _ = await ctx.services.loyalty.balance(ctx.customer.id)
    _ask_to_confirm(ctx, reward, balance, number, edit=edit)


def _ask_to_confirm(
    ctx: Context, reward: Reward, balance: int, number: PhoneNumber | None, *, edit: bool
) -> None:
    nonce = secrets.randbelow(1_000_000_000)
    text = _confirm_text(ctx, reward, balance)
    if number is None:
        ctx.go(CONFIRMING, reward=reward.id, nonce=nonce)
    else:
        ctx.go(CONFIRMING, reward=reward.id, nonce=nonce, phone=number.digits)
        carrier = ctx.t(f"carrier.{number.carrier}")
        text += "\n" + ctx.t("rewards.number", number=number.masked, carrier=carrier)
    ctx.reply(
        text,
        (
            (
                Button(ctx.t("rewards.yes"), ConfirmRedeem(reward.id, nonce).pack()),
                _back_to_rewards(ctx),
            ),
        ),
        edit=edit,
    )


def register(router: ConversationRouter) -> None:
    router.menu_entry(12, "menu.points", ShowPoints())

    @router.command("points")
    async def points_command(ctx: Context) -> None:
        await _show_points(ctx, edit=False)

    router.keyword("积分", "我的积分", "points", "my points")(points_command)

    @router.button(ShowPoints)
    async def points_button(ctx: Context, _data: ShowPoints) -> None:
        ctx.finish()
        await _show_points(ctx, edit=True)

    @router.button(ShowRewards)
    async def rewards_button(ctx: Context, _data: ShowRewards) -> None:
        await _show_rewards(ctx, edit=True)

    @router.button(RewardsPage)
    async def rewards_page(ctx: Context, data: RewardsPage) -> None:
        await _show_rewards(ctx, edit=True, page=data.page)

    @router.button(AskRedeem)
    async def ask(ctx: Context, data: AskRedeem) -> None:
        reward = next(
            (r for r in await ctx.services.rewards.rewards() if r.id == data.reward_id), None
        )
        if reward is None:
            ctx.notice(ctx.t("rewards.refused.unknown"))
            await _show_rewards(ctx, edit=True)
            return
        balance, _ = await ctx.services.loyalty.balance(ctx.customer.id)
        name = reward.name(ctx.language.value)
        if reward.cost_points > balance:
            ctx.notice(
                ctx.t.plural(
                    "rewards.cannot_afford",
                    reward.cost_points,
                    name=name,
                    points=reward.cost_points,
                    missing=reward.cost_points - balance,
                )
            )
            await _show_rewards(ctx, edit=True)
            return
        if reward.kind == "data_pack":
            await _choose_number(ctx, reward, balance)
            return
        _ask_to_confirm(ctx, reward, balance, None, edit=True)

    @router.button(RewardTo)
    async def to_bound_number(ctx: Context, data: RewardTo) -> None:
        reward = await _reward(ctx, data.reward_id)
        phones = await ctx.services.customers.phones(ctx.customer.id)
        own = next((p for p in phones if p.id == data.binding_id), None)
        if reward is None or own is None:  # not (or no longer) on offer, or not theirs
            ctx.notice(ctx.t("button.expired"))
            await _show_rewards(ctx, edit=True)
            return
        await _number_chosen(ctx, reward, PhoneNumber(own.digits, own.carrier), edit=True)

    @router.button(RewardOtherNumber)
    async def other_number(ctx: Context, data: RewardOtherNumber) -> None:
        ctx.go(TYPING_NUMBER, reward=data.reward_id)
        ctx.reply(ctx.t("rewards.type_number"), ((_back_to_rewards(ctx),),), edit=True)

    @router.step(TYPING_NUMBER)
    async def typed_number(ctx: Context) -> None:
        try:
            number = parse_phone_number(ctx.event.typed_or_shared)
        except PhoneNumberError as error:
            ctx.reply(ctx.t(f"phones.invalid.{error.reason}"))  # still here: try again
            return
        reward = await _reward(ctx, int(ctx.state.data.get("reward", 0)))
        if reward is None:
            ctx.finish()
            ctx.reply(ctx.t("rewards.refused.unknown"))
            await _show_rewards(ctx, edit=False)
            return
        await _number_chosen(ctx, reward, number, edit=False)

    @router.button(ConfirmRedeem)
    async def confirm(ctx: Context, data: ConfirmRedeem) -> None:
        state = dict(ctx.state.data)
        expected = {"reward": data.reward_id, "nonce": data.nonce}
        if ctx.state.step != CONFIRMING or {k: state.get(k) for k in expected} != expected:
            # A stale or forged confirmation: a double tap of the current one is fine below.
            ctx.notice(ctx.t("button.expired"))
            await _show_rewards(ctx, edit=True)
            return
        reward = await _reward(ctx, data.reward_id)
        if reward is not None and await ctx.services.pins.needed_to_redeem(
            ctx.customer.id, reward.cost_points
        ):
            ask_pin(ctx, PIN_TO_REDEEM, **state)
            return
        await _redeem(ctx, data.reward_id, data.nonce, state)

    @router.step(PIN_TO_REDEEM)
    async def pin_to_redeem(ctx: Context) -> None:
        if not await read_pin(ctx):
            return
        state = dict(ctx.state.data)
        ctx.finish()
        await _redeem(ctx, int(str(state.get("reward", 0))), int(str(state.get("nonce", 0))), state)

    async def _redeem(ctx: Context, reward_id: int, nonce: int, state: dict[str, object]) -> None:
        number = None
        if state.get("phone"):
            try:
                number = parse_phone_number(str(state["phone"]))
            except PhoneNumberError:
                number = None
        data = ConfirmRedeem(reward_id, nonce)
        try:
            redeemed = await ctx.services.rewards.redeem(
                ctx.customer.id,
                data.reward_id,
                f"{data.reward_id}:{data.nonce}",
                number=number,
                chat_id=ctx.event.chat_id,
            )
        except RedeemRefused as refused:
            ctx.reply(ctx.t(f"rewards.refused.{refused.reason}"))
            await _show_rewards(ctx, edit=False)
            return
        balance, _ = await ctx.services.loyalty.balance(ctx.customer.id)
        name = redeemed.reward.name(ctx.language.value)
        if redeemed.order_id is not None:  # a data pack: topped up now, its receipt follows
            ctx.reply(
                ctx.t.plural("rewards.done_data", balance, name=name, points=balance), edit=True
            )
            await show_receipt(ctx, await ctx.services.fulfilment.fulfil(redeemed.order_id))
            return
        text = ctx.t.plural("rewards.done", balance, name=name, points=balance)
        if redeemed.coupon is not None:
            text = ctx.t.plural(
                "rewards.done_coupon",
                balance,
                name=name,
                value=redeemed.coupon.value.format(),
                day=day(redeemed.coupon.expires_at - timedelta(seconds=1)),
                points=balance,
            )
        ctx.reply(
            text,
            ((Button(ctx.t("points.back"), ShowPoints().pack()),), back_to_menu(ctx.t)),
            edit=True,
        )
