"""Staff review of held referrals: the approve and reject buttons of the staff alert, and
/referrals_held (the referrals waiting for a decision, each with its buttons).

Every press and the command check `is_staff` first; anyone else gets a polite refusal and nothing
changes. A decision is taken once (a conditional update in the service): a second press, or a
press after a refund reversed the referral, only shows where it stands. The customers are told by
the referral sweep: rewards approved become claimable (the "ready to claim" notice), rewards
rejected are revoked (the "not granted" notice).
"""

from __future__ import annotations

import logging

from domain.referrals import ReferralStatus
from domain.services.referrals import SecondApprovalNeeded, StaffAlert
from handlers.contract import Button, Reply
from handlers.features.referrals import (
    ApproveReferral,
    RejectReferral,
    alert_reasons,
    staff_alert,
)
from handlers.features.staff_desk import desk_texts
from handlers.i18n import Texts, texts
from handlers.router import Context, ConversationRouter

log = logging.getLogger(__name__)

HELD_LISTED = 20


def _staff_chat_texts(ctx: Context) -> Texts:
    return texts(ctx.services.support.config.staff_language)


def _staff_name(ctx: Context) -> str:
    user = ctx.event.user
    return user.first_name or (f"@{user.username}" if user.username else f"#{user.telegram_id}")


def held_list(t: Texts, held: list[StaffAlert]) -> Reply:
    """/referrals_held: one line and one row of buttons per referral waiting for staff."""
    if not held:
        return Reply(t("invite.held_none"))
    lines = [t("invite.held_title", count=len(held))]
    lines += [
        t(
            "invite.held_line",
            referral=alert.referral_id,
            inviter=alert.inviter_id,
            friend=alert.friend_id,
            order=alert.order_id or "-",
            reasons=alert_reasons(t, alert),
        )
        for alert in held
    ]
    rows = tuple(
        (
            Button(
                t("invite.review.approve_n", referral=alert.referral_id),
                ApproveReferral(alert.referral_id, listed=True).pack(),
            ),
            Button(
                t("invite.review.reject_n", referral=alert.referral_id),
                RejectReferral(alert.referral_id, listed=True).pack(),
            ),
        )
        for alert in held
    )
    return Reply("\n".join(lines), rows)


def _answer(ctx: Context, reply: Reply, *, edit: bool = False) -> None:
    """Answer where the staff member is (the staff chat's topic too, when not editing)."""
    if edit:
        ctx.reply(reply.text, reply.buttons, edit=True)
        return
    event = ctx.event
    ctx.outcome.replies.append(
        Reply(reply.text, reply.buttons, chat_id=event.chat_id, thread_id=event.thread_id)
    )


async def _decide(ctx: Context, referral_id: int, *, approve: bool, listed: bool) -> None:
    # The notice is the presser's own; the list is in the language of the chat it is in; the
    # alert stays in the staff chat's language.
    t = ctx.t
    referrals = ctx.services.referrals
    before = await referrals.review(referral_id)
    if before is None:
        ctx.notice(t("invite.review.not_found", referral=referral_id))
        return
    decide = referrals.approve if approve else referrals.reject
    try:
        done = await decide(referral_id, ctx.event.user.telegram_id, _staff_name(ctx))
    except SecondApprovalNeeded:
        ctx.notice(t("invite.review.second_needed", referral=referral_id))
        return
    after = await referrals.review(referral_id) or before
    outcome: str | None = None
    if done:
        log.info(
            "referral %s %s by staff %s",
            referral_id,
            "approved" if approve else "rejected",
            ctx.event.user.telegram_id,
        )
        key = "invite.review.approved" if approve else "invite.review.rejected"
        outcome = t(key, referral=referral_id, staff=_staff_name(ctx))
        ctx.notice(outcome)
    elif after.status is ReferralStatus.HELD:
        ctx.notice(t("invite.review.failed", referral=referral_id))
    else:
        state = t(f"invite.review.state.{after.status.value}")
        ctx.notice(t("invite.review.already", referral=referral_id, state=state))
    if listed:
        _answer(ctx, held_list(desk_texts(ctx), await referrals.held(HELD_LISTED)), edit=True)
    else:
        staff_t = _staff_chat_texts(ctx)
        if outcome is not None:
            key = "invite.review.approved" if approve else "invite.review.rejected"
            outcome = staff_t(key, referral=referral_id, staff=_staff_name(ctx))
        _answer(ctx, staff_alert(after, outcome, staff_t), edit=True)


def register(router: ConversationRouter) -> None:
    @router.command("referrals_held", staff=True)
    async def held_command(ctx: Context) -> None:
        if not await ctx.staff_only():
            return
        held = await ctx.services.referrals.held(HELD_LISTED)
        _answer(ctx, held_list(desk_texts(ctx), held))

    @router.button(ApproveReferral)
    async def approve(ctx: Context, data: ApproveReferral) -> None:
        if not await ctx.staff_only():
            return
        await _decide(ctx, data.referral_id, approve=True, listed=data.listed)

    @router.button(RejectReferral)
    async def reject(ctx: Context, data: RejectReferral) -> None:
        if not await ctx.staff_only():
            return
        await _decide(ctx, data.referral_id, approve=False, listed=data.listed)
