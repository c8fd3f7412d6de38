"""The referral sweep: qualify friends, reverse refunded ones, expire rewards, tell people
(a reward to claim, a reward taken away, alerts for staff).

Safe to run twice or at once from two processes: every step is a conditional update or guarded
by a unique constraint, and every message is claimed before it is sent (released when it could
not be delivered, so the next sweep tries again; never sent twice). A release the database could
not take (it went away meanwhile) is kept and written when it is back, so no notice is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from domain.services.registry import Services
from handlers.contract import Notifier, Reply
from handlers.features.referrals import (
    reversal_notice,
    reward_ready,
    shortfall_alert,
    staff_alert,
)
from handlers.i18n import Texts, texts
from scheduler.notify import send_claimed, tell_chat, tell_customer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReferralSweep:
    qualified: int = 0
    reversed: int = 0
    expired: int = 0
    customers_told: int = 0
    staff_alerts: int = 0


async def sweep_referrals(
    services: Services, notifier: Notifier, staff_chat_id: int | None
) -> ReferralSweep:
    referrals = services.referrals
    await services.pending_records.flush()  # what was kept while the database was away
    qualified = await referrals.qualify_due()
    reversed_ = await referrals.reverse_refunded()
    expired = await referrals.expire_due()
    if qualified or reversed_ or expired:
        log.info(
            "referrals: %d qualified, %d reversed, %d rewards expired",
            len(qualified),
            len(reversed_),
            expired,
        )
    records = services.pending_records

    async def tell(reward_id: int, customer_id: int, notice: Callable[[Texts], Reply]) -> int:
        if not await referrals.mark_notified(reward_id):
            return 0  # another sweep is telling this one
        sent = await send_claimed(
            records,
            ("the notice of referral reward", reward_id),
            partial(tell_customer, services, notifier, customer_id, notice),
            partial(referrals.mark_notified, reward_id, False),
        )
        return int(bool(sent))

    told = 0
    for reward in await referrals.unnotified_rewards():
        told += await tell(reward.id, reward.customer_id, partial(reward_ready, reward=reward))
    # Rewards taken away (a refund, or staff rejecting a held referral): told once each.
    for reversal in await referrals.unnotified_reversals():
        reward = reversal.reward
        notice = partial(reversal_notice, reversed_=reversal)
        told += await tell(reward.id, reward.customer_id, notice)
    alerts = 0
    if staff_chat_id is not None:
        staff_t = texts(services.support.config.staff_language)
        for alert in await referrals.unsent_alerts():
            if not await referrals.mark_alert_sent(alert.referral_id):
                continue
            alerts += bool(
                await send_claimed(
                    records,
                    ("the staff alert of referral", alert.referral_id),
                    partial(tell_chat, notifier, staff_chat_id, staff_alert(alert, t=staff_t)),
                    partial(referrals.mark_alert_sent, alert.referral_id, False),
                )
            )
        for shortfall in await referrals.shortfalls(unsent_only=True):
            if not await referrals.mark_shortfall_sent(shortfall.id):
                continue
            reply = shortfall_alert(shortfall, staff_t)
            alerts += bool(
                await send_claimed(
                    records,
                    ("the staff alert of referral shortfall", shortfall.id),
                    partial(tell_chat, notifier, staff_chat_id, reply),
                    partial(referrals.mark_shortfall_sent, shortfall.id, False),
                )
            )
    return ReferralSweep(len(qualified), len(reversed_), expired, told, alerts)
