"""What erasing a customer's personal data does beyond their own rows: every place that keeps
the chat the bot talks to them in (in a private chat, that chat's id is their Telegram id)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.sql import Executable

from domain.persistence.broadcast_tables import (
    BroadcastOutboxRow,
    PushOptOutRow,
    SurveyAnswerRow,
)
from domain.persistence.consent_tables import PrivacyConsentRow
from domain.persistence.core import Repository
from domain.persistence.pin_tables import CustomerPinRow
from domain.persistence.referral_tables import InviteCodeRow, ReferralRewardRow, ReferralRow
from domain.persistence.reminder_tables import ReminderOutboxRow, ReminderSubscriptionRow
from domain.persistence.support_tables import (
    OrderRatingRow,
    SuggestionRow,
    TicketMessageRow,
    TicketRow,
)
from domain.persistence.tables import (
    ConversationRow,
    CustomerRow,
    OrderRow,
    PhoneBindingRow,
    PointsBalanceRow,
    PointsEntryRow,
    RedemptionRow,
    RewardCouponRow,
    RewardRow,
    WalletEntryRow,
    WalletRow,
)
from domain.privacy import PersonalData
from domain.repositories.reminders import PLANNED, SKIPPED
from domain.tickets import ERASED_TEXT

# Where an erased customer's chat was: no chat has this id.
NO_CHAT = 0
ERASED_REASON = "customer erased their data"


class PrivacyRepository(Repository):
    async def forget_chats(self, customer_id: int) -> None:
        """Orders keep no chat (their outcome is told to nobody), reminder subscriptions go,
        reminders and pushes not sent yet are skipped, and the record of those sent keeps no
        chat."""
        await self._session.execute(
            update(OrderRow)
            .where(OrderRow.customer_id == customer_id, OrderRow.chat_id.is_not(None))
            .values(chat_id=None)
            .execution_options(synchronize_session=False)
        )
        await self._session.execute(
            delete(ReminderSubscriptionRow)
            .where(ReminderSubscriptionRow.customer_id == customer_id)
            .execution_options(synchronize_session=False)
        )
        outbox = ReminderOutboxRow
        await self._session.execute(
            update(outbox)
            .where(outbox.customer_id == customer_id, outbox.status == PLANNED)
            .values(status=SKIPPED, reason=ERASED_REASON)
            .execution_options(synchronize_session=False)
        )
        await self._session.execute(
            update(outbox)
            .where(outbox.customer_id == customer_id)
            .values(chat_id=NO_CHAT)
            .execution_options(synchronize_session=False)
        )
        pushes = BroadcastOutboxRow
        await self._session.execute(
            update(pushes)
            .where(pushes.customer_id == customer_id, pushes.status == PLANNED)
            .values(status=SKIPPED, reason="erased")
            .execution_options(synchronize_session=False)
        )
        await self._session.execute(
            update(pushes)
            .where(pushes.customer_id == customer_id)
            .values(chat_id=NO_CHAT)
            .execution_options(synchronize_session=False)
        )
        await self._session.execute(
            update(SurveyAnswerRow)
            .where(SurveyAnswerRow.customer_id == customer_id, SurveyAnswerRow.comment.is_not(None))
            .values(comment=ERASED_TEXT)
            .execution_options(synchronize_session=False)
        )

    async def inactive_customers(self, since: datetime, limit: int) -> list[int]:
        """Customers (not erased) with no sign of life since `since`: not seen, no order
        changed, no ticket moved, no conversation step, no wallet entry; and no money left in
        their wallet (it is theirs: kept until they spend it or erase their data)."""
        c = CustomerRow
        lively = (
            exists().where(OrderRow.customer_id == c.id, OrderRow.updated_at >= since),
            exists().where(TicketRow.customer_id == c.id, TicketRow.updated_at >= since),
            exists().where(
                ConversationRow.telegram_id == c.telegram_id, ConversationRow.updated_at >= since
            ),
            exists().where(WalletEntryRow.customer_id == c.id, WalletEntryRow.at >= since),
            exists().where(WalletRow.customer_id == c.id, WalletRow.balance_fen != 0),
        )
        query = (
            select(c.id)
            .where(c.erased_at.is_(None), c.last_seen_at < since, *(~alive for alive in lively))
            .order_by(c.id)
            .limit(limit)
        )
        return list((await self._session.scalars(query)).all())

    async def forget_secrets(self, customer_id: int) -> None:
        await self._session.execute(
            delete(CustomerPinRow).where(CustomerPinRow.customer_id == customer_id)
        )

    async def personal_data(self, customer_id: int, ticket_texts: Sequence[str]) -> PersonalData:
        """Everything kept about the customer, each row theirs alone (selected by their id),
        with the columns that describe them: never another customer's id, a staff member's
        identity, a chat id or a PIN hash. `ticket_texts`: the kinds of ticket message that
        are words written by the customer or to them."""
        mine = customer_id

        async def rows(statement: Executable) -> list[dict[str, Any]]:
            result = await self._session.execute(statement)
            return [dict(row) for row in result.mappings()]

        customer = await rows(
            select(
                CustomerRow.telegram_id,
                CustomerRow.first_name,
                CustomerRow.last_name,
                CustomerRow.username,
                CustomerRow.language,
                CustomerRow.registered_at,
                CustomerRow.last_seen_at,
            ).where(CustomerRow.id == mine)
        )
        phones = await rows(
            select(
                PhoneBindingRow.digits,
                PhoneBindingRow.carrier,
                PhoneBindingRow.verified,
                PhoneBindingRow.bound_at,
            )
            .where(PhoneBindingRow.customer_id == mine)
            .order_by(PhoneBindingRow.bound_at, PhoneBindingRow.id)
        )
        o = OrderRow
        orders = await rows(
            select(
                o.id,
                o.purpose,
                o.status,
                o.amount_fen,
                o.currency,
                o.phone_digits,
                o.carrier,
                o.product_name_zh,
                o.product_name_en,
                o.bundle_name_zh,
                o.bundle_name_en,
                o.payment_method,
                o.coupon_code,
                o.failure_reason,
                o.created_at,
                o.completed_at,
            )
            .where(o.customer_id == mine)
            .order_by(o.created_at, o.id)
        )
        wallet = await rows(
            select(WalletRow.balance_fen, WalletRow.currency).where(WalletRow.customer_id == mine)
        )
        wallet_entries = await rows(
            select(
                WalletEntryRow.amount_fen,
                WalletEntryRow.currency,
                WalletEntryRow.kind,
                WalletEntryRow.order_id,
                WalletEntryRow.at,
            )
            .where(WalletEntryRow.customer_id == mine)
            .order_by(WalletEntryRow.at, WalletEntryRow.id)
        )
        points = await rows(
            select(PointsBalanceRow.points).where(PointsBalanceRow.customer_id == mine)
        )
        points_entries = await rows(
            select(
                PointsEntryRow.points,
                PointsEntryRow.kind,
                PointsEntryRow.order_id,
                PointsEntryRow.at,
                PointsEntryRow.expires_at,
            )
            .where(PointsEntryRow.customer_id == mine)
            .order_by(PointsEntryRow.at, PointsEntryRow.id)
        )
        redemptions = await rows(
            select(
                RewardRow.name_zh,
                RewardRow.name_en,
                RedemptionRow.points,
                RedemptionRow.order_id,
                RedemptionRow.at,
            )
            .join(RewardRow, RewardRow.id == RedemptionRow.reward_id)
            .where(RedemptionRow.customer_id == mine)
            .order_by(RedemptionRow.at, RedemptionRow.id)
        )
        coupons = await rows(
            select(
                RewardCouponRow.name_zh,
                RewardCouponRow.name_en,
                RewardCouponRow.value_fen,
                RewardCouponRow.currency,
                RewardCouponRow.created_at,
                RewardCouponRow.expires_at,
                RewardCouponRow.order_id,
                RewardCouponRow.used_at,
            )
            .where(RewardCouponRow.customer_id == mine)
            .order_by(RewardCouponRow.created_at, RewardCouponRow.id)
        )
        t = TicketRow
        tickets = await rows(
            select(
                t.id,
                t.category,
                t.priority,
                t.status,
                t.order_id,
                t.created_at,
                t.resolved_at,
                t.closed_at,
                t.csat,
            )
            .where(t.customer_id == mine)
            .order_by(t.created_at, t.id)
        )
        m = TicketMessageRow
        messages = await rows(
            select(m.ticket_id, m.kind, m.text, m.created_at)
            .join(t, t.id == m.ticket_id)
            .where(t.customer_id == mine, m.kind.in_(list(ticket_texts)))
            .order_by(m.created_at, m.id)
        )
        suggestions = await rows(
            select(SuggestionRow.text, SuggestionRow.at)
            .where(SuggestionRow.customer_id == mine)
            .order_by(SuggestionRow.at, SuggestionRow.id)
        )
        ratings = await rows(
            select(
                OrderRatingRow.order_id,
                OrderRatingRow.stars,
                OrderRatingRow.comment,
                OrderRatingRow.at,
            )
            .where(OrderRatingRow.customer_id == mine)
            .order_by(OrderRatingRow.at)
        )
        invite = await rows(select(InviteCodeRow.code).where(InviteCodeRow.customer_id == mine))
        r = ReferralRow
        invited = await rows(
            select(r.status, r.joined_at, r.qualified_at)
            .where(r.inviter_id == mine)
            .order_by(r.joined_at, r.id)
        )
        invited_by = await rows(
            select(r.status, r.joined_at, r.qualified_at).where(r.friend_id == mine)
        )
        rewards = await rows(
            select(
                ReferralRewardRow.side,
                ReferralRewardRow.kind,
                ReferralRewardRow.points,
                ReferralRewardRow.amount_fen,
                ReferralRewardRow.status,
                ReferralRewardRow.created_at,
                ReferralRewardRow.claimed_at,
            )
            .where(ReferralRewardRow.customer_id == mine)
            .order_by(ReferralRewardRow.created_at, ReferralRewardRow.id)
        )
        consent = await rows(
            select(PrivacyConsentRow.accepted_at, PrivacyConsentRow.marketing).where(
                PrivacyConsentRow.customer_id == mine
            )
        )
        pushes_off = await rows(
            select(PushOptOutRow.since).where(PushOptOutRow.customer_id == mine)
        )
        reminders = await self._session.scalar(
            select(func.count())
            .select_from(ReminderSubscriptionRow)
            .where(ReminderSubscriptionRow.customer_id == mine)
        )
        pin = await self._session.scalar(
            select(CustomerPinRow.set_at).where(CustomerPinRow.customer_id == mine)
        )
        return PersonalData(
            customer=customer[0] if customer else {},
            phones=phones,
            orders=orders,
            wallet=wallet[0] if wallet else {},
            wallet_entries=wallet_entries,
            points=points[0]["points"] if points else 0,
            points_entries=points_entries,
            redemptions=redemptions,
            coupons=coupons,
            tickets=tickets,
            ticket_messages=messages,
            suggestions=suggestions,
            ratings=ratings,
            invite_code=invite[0]["code"] if invite else None,
            invited=invited,
            invited_by=invited_by[0] if invited_by else None,
            referral_rewards=rewards,
            consent=consent[0] if consent else None,
            pushes_off_since=pushes_off[0]["since"] if pushes_off else None,
            reminder_subscriptions=int(reminders or 0),
            pin_set_at=pin,
        )
