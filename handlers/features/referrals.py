"""/invite: the personal invite link, friends and rewards, one-tap claims, the leaderboard.

Also what a friend who opened the bot through a link is told, and the messages the referral
sweep sends (a reward to claim, alerts for staff).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from domain.languages import DEFAULT_LANGUAGE
from domain.referrals import ReferralStatus, RewardKind, RewardStatus, Side, start_payload
from domain.services.referrals import (
    ClaimRefused,
    InviteSummary,
    Programme,
    ReversedReward,
    Reward,
    Shortfall,
    StaffAlert,
)
from handlers.buttons import ButtonData
from handlers.contract import Button, Reply
from handlers.i18n import Texts, texts
from handlers.menu import back_to_menu
from handlers.offers_text import day
from handlers.router import Context, ConversationRouter


@dataclass(frozen=True)
class ShowInvite(ButtonData, prefix="inv"):
    pass


@dataclass(frozen=True)
class ClaimReward(ButtonData, prefix="inv!"):
    reward_id: int


@dataclass(frozen=True)
class ShowLeaderboard(ButtonData, prefix="invtop"):
    pass


# Staff review of a held referral (handled in handlers/features/referral_review.py). `listed`:
# pressed under /referrals_held (the list is shown again) rather than under the alert.
@dataclass(frozen=True)
class ApproveReferral(ButtonData, prefix="refok"):
    referral_id: int
    listed: bool = False


@dataclass(frozen=True)
class RejectReferral(ButtonData, prefix="refno"):
    referral_id: int
    listed: bool = False


def invite_link(bot_username: str | None, code: str) -> str:
    """t.me/<bot>?start=ref_<code>; without a known bot name, the /start command to send."""
    payload = start_payload(code)
    if not bot_username:
        return f"/start {payload}"
    return f"https://t.me/{bot_username.lstrip('@')}?start={payload}"


def share_url(link: str, text: str) -> str:
    return f"https://t.me/share/url?url={quote(link, safe='')}&text={quote(text, safe='')}"


def reward_text(
    t: Texts, kind: RewardKind, points: int, amount: str, coupon_code: str | None
) -> str:
    if kind is RewardKind.POINTS:
        return t.plural("invite.reward.points", points, points=points)
    if kind is RewardKind.RED_PACKET:
        return t("invite.reward.red_packet", amount=amount)
    return t("invite.reward.coupon", code=coupon_code or "")


def _reward(t: Texts, reward: Reward) -> str:
    return reward_text(t, reward.kind, reward.points, reward.amount.format(), reward.coupon_code)


def _rules(t: Texts, programme: Programme) -> str:
    rules = programme.rules
    return t.plural(
        "invite.rules",
        rules.claim_window.days,
        minimum=rules.minimum.format(),
        inviter=reward_text(
            t,
            rules.inviter.kind,
            rules.inviter.points,
            rules.inviter.amount.format(),
            rules.inviter.coupon_code,
        ),
        friend=reward_text(
            t,
            rules.friend.kind,
            rules.friend.points,
            rules.friend.amount.format(),
            rules.friend.coupon_code,
        ),
        days=rules.claim_window.days,
    )


# Claim buttons on the invite screen at most.
MAX_CLAIM_BUTTONS = 20


def invite_screen(
    t: Texts, summary: InviteSummary, bot_username: str | None
) -> tuple[str, tuple[tuple[Button, ...], ...]]:
    link = invite_link(bot_username, summary.code)
    lines = [t("invite.title")]
    if summary.programme is not None:
        lines.append(_rules(t, summary.programme))
    else:
        lines.append(t("invite.no_programme"))
    lines += [
        t("invite.link", link=link),
        t(
            "invite.friends",
            joined=summary.friends_joined,
            qualified=summary.friends_qualified,
        ),
        t(
            "invite.rewards",
            pending=summary.rewards[RewardStatus.PENDING],
            claimable=summary.rewards[RewardStatus.CLAIMABLE],
            claimed=summary.rewards[RewardStatus.CLAIMED],
            expired=summary.rewards[RewardStatus.EXPIRED],
        ),
    ]
    rows: list[tuple[Button, ...]] = []
    if bot_username:
        rows.append((Button(t("invite.share"), url=share_url(link, t("invite.share_text"))),))
    # The first claimable rewards, as many as a keyboard shows; claiming one brings the next.
    rows += [
        (Button(t("invite.claim", reward=_reward(t, r)), data=ClaimReward(r.id).pack()),)
        for r in summary.claimable[:MAX_CLAIM_BUTTONS]
    ]
    rows.append((Button(t("invite.leaderboard"), data=ShowLeaderboard().pack()),))
    rows.append(back_to_menu(t))
    return "\n\n".join(lines), tuple(rows)


def reward_ready(t: Texts, reward: Reward) -> Reply:
    """The notice that a reward can be claimed now, with its one-tap button."""
    key = "invite.ready.inviter" if reward.side is Side.INVITER else "invite.ready.friend"
    by = day(reward.claim_by) if reward.claim_by is not None else ""
    return Reply(
        t(key, reward=_reward(t, reward), day=by),
        (
            (Button(t("invite.claim", reward=_reward(t, reward)), ClaimReward(reward.id).pack()),),
            (Button(t("menu.invite"), ShowInvite().pack()),),
        ),
    )


def alert_reasons(t: Texts, alert: StaffAlert) -> str:
    return "、".join(t(f"invite.alert.{reason.value}") for reason in alert.reasons)


def staff_alert(alert: StaffAlert, outcome: str | None = None, t: Texts | None = None) -> Reply:
    """For the staff chat: a qualification that waits for review instead of paying out, with
    approve and reject buttons while it waits; once decided, what became of it. In the staff
    chat's language `t` (Chinese when none is given)."""
    t = t or texts(DEFAULT_LANGUAGE)
    text = t(
        "invite.alert",
        referral=alert.referral_id,
        inviter=alert.inviter_id,
        friend=alert.friend_id,
        order=alert.order_id or "-",
        reasons=alert_reasons(t, alert),
    )
    if alert.status is not ReferralStatus.HELD or outcome is not None:
        text += "\n\n" + (outcome or t(f"invite.review.state.{alert.status.value}"))
    if alert.status is not ReferralStatus.HELD:
        return Reply(text)
    return Reply(
        text,
        (
            (
                Button(t("invite.review.approve"), ApproveReferral(alert.referral_id).pack()),
                Button(t("invite.review.reject"), RejectReferral(alert.referral_id).pack()),
            ),
        ),
    )


def reversal_notice(t: Texts, reversed_: ReversedReward) -> Reply:
    """A customer's reward taken away: staff rejected it, or its recharge was refunded."""
    reward = reversed_.reward
    if reversed_.rejected:
        key = "invite.rejected"
    elif reward.status is RewardStatus.REVOKED:
        key = "invite.reversed.revoked"
    elif reward.kind is RewardKind.COUPON:
        key = "invite.reversed.coupon"
    else:
        key = "invite.reversed.clawed_back"
    return Reply(
        t(key, reward=_reward(t, reward)), ((Button(t("menu.invite"), ShowInvite().pack()),),)
    )


def shortfall_alert(shortfall: Shortfall, t: Texts | None = None) -> Reply:
    t = t or texts(DEFAULT_LANGUAGE)
    if shortfall.coupon_code is not None and not (shortfall.points or shortfall.amount.fen):
        return Reply(
            t(
                "invite.shortfall_coupon",
                reward=shortfall.reward_id,
                customer=shortfall.customer_id,
                code=shortfall.coupon_code,
            )
        )
    return Reply(
        t(
            "invite.shortfall",
            reward=shortfall.reward_id,
            customer=shortfall.customer_id,
            points=shortfall.points,
            amount=shortfall.amount.format(),
        )
    )


async def welcome_referred(ctx: Context) -> None:
    """A customer new to the bot who came through an invite link: attributed, told the deal.

    A forged, malformed or own code attributes nothing and adds nothing to the welcome.
    """
    if not await ctx.services.referrals.attribute(ctx.customer.id, ctx.event.args):
        return
    programme = await ctx.services.referrals.programme()
    if programme is None:
        return
    friend = programme.rules.friend
    reward = reward_text(
        ctx.t, friend.kind, friend.points, friend.amount.format(), friend.coupon_code
    )
    ctx.reply(
        ctx.t(
            "invite.welcome_friend",
            minimum=programme.rules.minimum.format(),
            reward=reward,
        )
    )


def register(router: ConversationRouter) -> None:
    router.menu_entry(45, "menu.invite", ShowInvite())

    async def show(ctx: Context, *, edit: bool) -> None:
        summary = await ctx.services.referrals.summary(ctx.customer.id)
        text, buttons = invite_screen(ctx.t, summary, router.bot_username)
        ctx.reply(text, buttons, edit=edit)

    @router.command("invite")
    async def invite_command(ctx: Context) -> None:
        ctx.finish()
        await show(ctx, edit=False)

    @router.button(ShowInvite)
    async def invite_button(ctx: Context, _data: ShowInvite) -> None:
        ctx.finish()
        await show(ctx, edit=True)

    @router.button(ClaimReward)
    async def claim(ctx: Context, data: ClaimReward) -> None:
        try:
            reward = await ctx.services.referrals.claim(ctx.customer.id, data.reward_id)
        except ClaimRefused as refused:
            ctx.notice(ctx.t(f"invite.claim_refused.{refused.reason}"))
            await show(ctx, edit=True)
            return
        ctx.notice(ctx.t("invite.claimed_notice"))
        ctx.reply(ctx.t(f"invite.claimed.{reward.kind.value}", reward=_reward(ctx.t, reward)))
        await show(ctx, edit=False)

    @router.button(ShowLeaderboard)
    async def leaderboard(ctx: Context, _data: ShowLeaderboard) -> None:
        found = await ctx.services.referrals.leaderboard()
        back = ((Button(ctx.t("invite.back"), ShowInvite().pack()),),)
        if found is None or not found[1]:
            ctx.reply(ctx.t("invite.leaderboard_empty"), back, edit=True)
            return
        programme, leaders = found
        lines = [ctx.t("invite.leaderboard_title", campaign=programme.name(ctx.language.value))]
        lines += [
            ctx.t.plural("invite.leaderboard_line", friends, rank=rank, name=name, friends=friends)
            for rank, (name, friends) in enumerate(leaders, start=1)
        ]
        ctx.reply("\n".join(lines), back, edit=True)
