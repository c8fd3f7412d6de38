"""Referral rewards on SQLite and PostgreSQL: exactly once, whatever the replays and races;
abuse held for staff; refunds reverse; nothing below zero."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.campaign_file import parse_campaign_file
from domain.customers import Customer, TelegramProfile
from domain.money import CNY, Money
from domain.orders import OrderStatus
from domain.persistence.referral_repositories import ReferralRepository
from domain.persistence.referral_tables import ReferralRewardRow, ReferralRow
from domain.persistence.tables import OrderRow
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.phone import parse_phone_number
from domain.referrals import AlertReason, ReferralStatus, RewardStatus, start_payload
from domain.services.referrals import ClaimRefused
from domain.services.registry import Services, build_services
from handlers.contract import Delivery, DeliveryStatus, Reply
from scheduler.referrals import sweep_referrals
from tests.sandbox import sandbox_ports

STAFF_CHAT = -100500

CAMPAIGN = """
[[campaigns]]
code = "invite-fest"
name_zh = "邀请节"
name_en = "Invite festival"
terms_zh = "邀请好友"
terms_en = "Invite friends"
starts_at = 2026-11-01T00:00:00+08:00
ends_at = 2026-12-01T00:00:00+08:00

[[campaigns.offers]]
code = "double"
kind = "points_multiplier"
multiplier = 2
quota = 1

[campaigns.referral]
min_recharge_yuan = 30
inviter = {{ kind = "points", points = 200 }}
friend = {{ kind = "red_packet", yuan = 5 }}
claim_days = 7
cap_per_inviter = {cap}
cap_period_days = 30
burst_count = {burst}
burst_minutes = 60
"""


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class Outbox:
    """The outbound port: records what was sent; can be told to fail."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, Reply]] = []
        self.failing = False

    async def send(self, chat_id: int, reply: Reply) -> Delivery:
        if self.failing:
            return Delivery(DeliveryStatus.RETRY, reason="offline")
        self.sent.append((chat_id, reply))
        return Delivery.sent()

    def to(self, chat_id: int) -> list[str]:
        return [reply.text for chat, reply in self.sent if chat == chat_id]


class World:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.clock = FakeClock()
        self.services: Services = build_services(
            UnitOfWorkFactory.of(engine), self.clock, ports=sandbox_ports()
        )
        self.referrals = self.services.referrals
        self.outbox = Outbox()
        self._orders = 0

    async def load(self, *, cap: int = 20, burst: int = 5) -> None:
        text = CAMPAIGN.format(cap=cap, burst=burst)
        await self.services.campaigns.load(parse_campaign_file(text))

    async def customer(self, telegram_id: int) -> Customer:
        profile = TelegramProfile(telegram_id, f"客户{telegram_id}")
        return (await self.services.customers.begin_turn(profile, telegram_id)).customer

    async def invited(self, inviter: Customer, telegram_id: int) -> Customer:
        friend = await self.customer(telegram_id)
        code = await self.referrals.invite_code(inviter.id)
        assert await self.referrals.attribute(friend.id, start_payload(code))
        return friend

    async def completed_recharge(
        self, customer: Customer, yuan: int, digits: str = "18612345678"
    ) -> int:
        """A recharge that completed now (as the recharge service leaves it)."""
        now = self.clock()
        async with self.engine.begin() as connection:
            result = await connection.execute(
                insert(OrderRow)
                .values(
                    customer_id=customer.id,
                    chat_id=customer.telegram_id,
                    purpose="recharge",
                    status=OrderStatus.COMPLETED,
                    amount_fen=yuan * 100,
                    currency=CNY,
                    phone_digits=digits,
                    carrier="unicom",
                    product_name_zh="",
                    product_name_en="",
                    created_at=now,
                    expires_at=now,
                    updated_at=now,
                    completed_at=now,
                    outcome_notified=True,
                )
                .returning(OrderRow.id)
            )
            return int(result.scalar_one())

    async def refund(self, order_id: int) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                update(OrderRow).where(OrderRow.id == order_id).values(status="refunded")
            )

    async def bind(self, customer: Customer, digits: str) -> None:
        await self.services.customers.bind_phone(customer.id, parse_phone_number(digits))

    async def sweep(self) -> None:
        await sweep_referrals(self.services, self.outbox, STAFF_CHAT)

    async def rewards(self, **where: object) -> list[Row[Any]]:
        """The rewards' columns (as `ReferralRewardRow` names them), read on a connection."""
        query = select(ReferralRewardRow).order_by(ReferralRewardRow.id)
        for name, value in where.items():
            query = query.where(getattr(ReferralRewardRow, name) == value)
        async with self.engine.connect() as connection:
            return list((await connection.execute(query)).all())

    async def referral(self, friend: Customer) -> Row[Any]:
        """The referral's columns (as `ReferralRow` names them), read on a connection."""
        async with self.engine.connect() as connection:
            return (
                await connection.execute(
                    select(ReferralRow).where(ReferralRow.friend_id == friend.id)
                )
            ).one()

    async def points(self, customer: Customer) -> int:
        balance, ledger = await self.services.loyalty.balance(customer.id)
        assert balance == ledger
        return balance

    async def wallet(self, customer: Customer) -> int:
        balance = await self.services.wallet.balance(customer.id)
        assert balance == await self.services.wallet.ledger_balance(customer.id)
        return balance.fen


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    built = World(engine)
    await built.load()
    return built


# -- attribution --------------------------------------------------------------------------------
async def test_a_code_is_unguessable_stable_and_fits_a_start_payload(world: World) -> None:
    anna = await world.customer(1)
    bob = await world.customer(2)
    code = await world.referrals.invite_code(anna.id)
    assert code == await world.referrals.invite_code(anna.id)
    assert code != await world.referrals.invite_code(bob.id)
    assert len(code) >= 16 and len(start_payload(code)) <= 64


async def test_forged_own_or_late_links_attribute_nothing(world: World) -> None:
    anna = await world.customer(1)
    code = await world.referrals.invite_code(anna.id)
    friend = await world.customer(2)
    for payload in ("ref_", "ref_" + "A" * 16, "ref_" + code[:-1], code, "ref_" + code + "x"):
        assert not await world.referrals.attribute(friend.id, payload)
    assert not await world.referrals.attribute(anna.id, start_payload(code))  # never oneself
    old = await world.customer(3)
    await world.completed_recharge(old, 50)
    assert not await world.referrals.attribute(old.id, start_payload(code))  # not new
    assert await world.referrals.attribute(friend.id, start_payload(code))
    # First touch: a second inviter's link later changes nothing.
    other = await world.customer(4)
    other_code = await world.referrals.invite_code(other.id)
    assert not await world.referrals.attribute(friend.id, start_payload(other_code))
    assert await world.referrals.inviter_of(friend.id) == anna.id


# -- qualification, exactly once -----------------------------------------------------------------
async def test_first_recharge_over_the_minimum_makes_both_rewards_claimable_once(
    world: World,
) -> None:
    anna = await world.customer(1)
    friend = await world.invited(anna, 2)
    await world.completed_recharge(friend, 20, "13100001111")  # below ¥30: not yet
    await world.sweep()
    assert await world.rewards() == []
    await world.completed_recharge(friend, 30, "13100001111")
    await world.sweep()
    await world.sweep()
    rewards = await world.rewards()
    assert [(r.customer_id, r.kind, r.status) for r in rewards] == [
        (anna.id, "points", "claimable"),
        (friend.id, "red_packet", "claimable"),
    ]
    # Both told once, each in their own chat, with a claim button.
    assert len(world.outbox.to(1)) == 1 and "200 积分" in world.outbox.to(1)[0]
    assert len(world.outbox.to(2)) == 1 and "¥5.00" in world.outbox.to(2)[0]
    summary = await world.referrals.summary(anna.id)
    assert (summary.friends_joined, summary.friends_qualified) == (1, 1)
    assert summary.rewards[RewardStatus.CLAIMABLE] == 1


async def test_the_sweep_reads_only_recharges_since_those_it_examined_late_commits_too(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[int] = []
    candidates = ReferralRepository.qualifying_candidates

    async def counted(self: ReferralRepository, *args: Any) -> Any:
        rows = await candidates(self, *args)
        read.append(len(rows))
        return rows

    monkeypatch.setattr(ReferralRepository, "qualifying_candidates", counted)
    anna = await world.customer(1)
    friend = await world.invited(anna, 2)
    await world.completed_recharge(friend, 20, "13100001111")  # below ¥30: never qualifies
    world.clock.advance(minutes=11)
    await world.sweep()
    await world.sweep()
    assert read == [1, 0]  # examined once, never read again
    # Stamped complete 3 minutes before the last sweep, committed after it: still seen.
    world.clock.advance(minutes=-3)
    await world.completed_recharge(friend, 30, "13100001111")
    world.clock.advance(minutes=3)
    await world.sweep()
    assert read == [1, 0, 1]
    assert [(r.customer_id, r.status) for r in await world.rewards()] == [
        (anna.id, "claimable"),
        (friend.id, "claimable"),
    ]


async def test_concurrent_sweeps_create_each_reward_once(world: World) -> None:
    anna = await world.customer(1)
    friends = [await world.invited(anna, 10 + n) for n in range(3)]
    for n, friend in enumerate(friends):
        await world.completed_recharge(friend, 50, f"1310000{n:04d}")
    await asyncio.gather(*(world.referrals.qualify_due() for _ in range(4)))
    assert len(await world.rewards()) == 6
    await asyncio.gather(*(world.sweep() for _ in range(3)))
    assert len(world.outbox.sent) == 6  # each notice sent once


async def test_a_notice_that_fails_is_sent_next_sweep_and_only_once(world: World) -> None:
    anna = await world.customer(1)
    friend = await world.invited(anna, 2)
    await world.completed_recharge(friend, 50, "13100001111")
    world.outbox.failing = True
    await world.sweep()
    assert world.outbox.sent == []
    world.outbox.failing = False
    await world.sweep()
    await world.sweep()
    assert len(world.outbox.to(1)) == 1 and len(world.outbox.to(2)) == 1


# -- claims --------------------------------------------------------------------------------------
async def test_concurrent_claims_credit_once(world: World) -> None:
    anna = await world.customer(1)
    friend = await world.invited(anna, 2)
    await world.completed_recharge(friend, 50, "13100001111")
    await world.sweep()
    inviter_reward, friend_reward = await world.rewards()
    results = await asyncio.gather(
        *(world.referrals.claim(anna.id, inviter_reward.id) for _ in range(8)),
        *(world.referrals.claim(friend.id, friend_reward.id) for _ in range(8)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 2
    assert all(isinstance(r, ClaimRefused) for r in results if isinstance(r, BaseException))
    assert await world.points(anna) == 200
    assert await world.wallet(friend) == 500
    with pytest.raises(ClaimRefused, match="claimed"):
        await world.referrals.claim(anna.id, inviter_reward.id)


async def test_nobody_claims_another_customers_reward_and_late_claims_expire(
    world: World,
) -> None:
    anna = await world.customer(1)
    friend = await world.invited(anna, 2)
    await world.completed_recharge(friend, 50, "13100001111")
    await world.sweep()
    inviter_reward, friend_reward = await world.rewards()
    with pytest.raises(ClaimRefused, match="unavailable"):
        await world.referrals.claim(friend.id, inviter_reward.id)
    world.clock.advance(days=7, seconds=1)
    with pytest.raises(ClaimRefused, match="expired"):
        await world.referrals.claim(friend.id, friend_reward.id)
    await world.sweep()
    assert {r.status for r in await world.rewards()} == {"expired"}
    assert await world.points(anna) == 0 and await world.wallet(friend) == 0
    summary = await world.referrals.summary(anna.id)
    assert summary.rewards[RewardStatus.EXPIRED] == 1 and not summary.claimable


# -- refunds -------------------------------------------------------------------------------------
async def test_a_refund_revokes_unclaimed_and_claws_back_claimed_never_below_zero(
    world: World,
) -> None:
    anna = await world.customer(1)
    friend = await world.invited(anna, 2)
    order_id = await world.completed_recharge(friend, 50, "13100001111")
    await world.sweep()
    _, friend_reward = await world.rewards()
    await world.referrals.claim(friend.id, friend_reward.id)
    # The friend spends ¥3 of the ¥5 red packet before the refund.
    uow = UnitOfWorkFactory.of(world.engine)
    async with uow() as unit:
        assert await unit.wallets.post(friend.id, -300, CNY, "payment", "spend:1", world.clock())
        await unit.commit()
    await world.refund(order_id)
    await world.sweep()
    await world.sweep()
    statuses = {r.customer_id: r.status for r in await world.rewards()}
    assert statuses == {anna.id: "revoked", friend.id: "clawed_back"}
    assert await world.wallet(friend) == 0  # took the ¥2 left, not below zero
    [shortfall] = await world.referrals.shortfalls()
    assert (shortfall.customer_id, shortfall.amount) == (friend.id, Money(300))
    staff = world.outbox.to(STAFF_CHAT)
    assert len(staff) == 1 and "¥3.00" in staff[0]
    assert (await world.referral(friend)).status == ReferralStatus.REVERSED


async def test_clawed_back_points_come_off_the_ledger_once(world: World) -> None:
    anna = await world.customer(1)
    friend = await world.invited(anna, 2)
    order_id = await world.completed_recharge(friend, 50, "13100001111")
    await world.sweep()
    inviter_reward, _ = await world.rewards()
    await world.referrals.claim(anna.id, inviter_reward.id)
    await world.refund(order_id)
    await asyncio.gather(*(world.referrals.reverse_refunded() for _ in range(3)))
    assert await world.points(anna) == 0
    assert await world.referrals.shortfalls() == []


# -- abuse ---------------------------------------------------------------------------------------
async def test_self_referral_by_shared_number_is_held_for_staff(world: World) -> None:
    anna = await world.customer(1)
    await world.bind(anna, "18612345678")
    friend = await world.invited(anna, 2)
    await world.completed_recharge(friend, 50, "18612345678")
    await world.sweep()
    await world.sweep()
    assert {r.status for r in await world.rewards()} == {"pending"}
    referral = await world.referral(friend)
    assert referral.status == ReferralStatus.HELD
    assert AlertReason.SELF_REFERRAL in (referral.alert or "")
    assert world.outbox.to(1) == [] and world.outbox.to(2) == []
    [alert] = world.outbox.to(STAFF_CHAT)
    assert "同一号码" in alert
    # Staff approve: the rewards become claimable and the customers are told.
    assert await world.referrals.approve(referral.id)
    assert not await world.referrals.approve(referral.id)
    await world.sweep()
    assert {r.status for r in await world.rewards()} == {"claimable"}
    assert len(world.outbox.to(1)) == 1


async def test_a_number_bound_to_another_account_is_held(world: World) -> None:
    anna = await world.customer(1)
    stranger = await world.customer(3)
    await world.bind(stranger, "13100001111")
    friend = await world.invited(anna, 2)
    await world.bind(friend, "13100001111")
    await world.completed_recharge(friend, 50, "13100001111")
    await world.sweep()
    referral = await world.referral(friend)
    assert referral.alert == AlertReason.PHONE_SHARED
    assert await world.referrals.reject(referral.id)
    assert {r.status for r in await world.rewards()} == {"revoked"}


async def test_the_cap_per_inviter_holds_under_concurrent_sweeps(engine: AsyncEngine) -> None:
    world = World(engine)
    await world.load(cap=2, burst=100)
    anna = await world.customer(1)
    friends = [await world.invited(anna, 10 + n) for n in range(4)]
    for n, friend in enumerate(friends):
        await world.completed_recharge(friend, 50, f"1310000{n:04d}")
    await asyncio.gather(*(world.referrals.qualify_due() for _ in range(3)))
    inviter_rewards = await world.rewards(customer_id=anna.id)
    assert sorted(r.status for r in inviter_rewards) == [
        "claimable",
        "claimable",
        "pending",
        "pending",
    ]
    alerts = [a for a in await world.referrals.unsent_alerts()]
    assert [a.reasons for a in alerts] == [(AlertReason.CAP,), (AlertReason.CAP,)]


async def test_a_burst_of_qualifications_raises_an_alert(engine: AsyncEngine) -> None:
    world = World(engine)
    await world.load(cap=100, burst=3)
    anna = await world.customer(1)
    friends = [await world.invited(anna, 10 + n) for n in range(3)]
    for n, friend in enumerate(friends):
        await world.completed_recharge(friend, 50, f"1310000{n:04d}")
    await world.sweep()
    held = [r for r in await world.rewards(customer_id=anna.id) if r.status == "pending"]
    assert len(held) == 1
    [alert] = world.outbox.to(STAFF_CHAT)
    assert "短时间" in alert


async def test_no_reward_without_a_live_referral_campaign(world: World) -> None:
    anna = await world.customer(1)
    friend = await world.invited(anna, 2)
    world.clock.now = datetime(2026, 12, 5, tzinfo=UTC)  # after the campaign
    await world.completed_recharge(friend, 50, "13100001111")
    await world.sweep()
    assert await world.rewards() == []
    assert (await world.referral(friend)).status == ReferralStatus.JOINED


# -- telling customers what was taken away ------------------------------------------------------
async def test_a_refund_tells_each_customer_once_what_was_taken_back(world: World) -> None:
    anna = await world.customer(1)
    friend = await world.invited(anna, 2)
    order_id = await world.completed_recharge(friend, 50, "13100001111")
    await world.sweep()
    _, friend_reward = await world.rewards()
    await world.referrals.claim(friend.id, friend_reward.id)
    await world.refund(order_id)
    world.outbox.failing = True  # the first attempt fails: told at the next sweep
    await world.sweep()
    world.outbox.failing = False
    await asyncio.gather(*(world.sweep() for _ in range(3)))
    await world.sweep()
    [_, inviter_notice] = world.outbox.to(1)
    [_, friend_notice] = world.outbox.to(2)
    assert inviter_notice == "↩️ 奖励所对应的首次充值已退款，200 积分 已取消。"
    assert friend_notice.startswith("↩️ 奖励所对应的首次充值已退款，您已领取的 ¥5.00 红包 已扣回")
    assert await world.wallet(friend) == 0


async def test_an_expired_reward_reversed_tells_nobody(world: World) -> None:
    anna = await world.customer(1)
    friend = await world.invited(anna, 2)
    order_id = await world.completed_recharge(friend, 50, "13100001111")
    await world.sweep()
    world.clock.advance(days=8)
    await world.sweep()
    await world.refund(order_id)
    await world.sweep()
    assert {r.status for r in await world.rewards()} == {"revoked"}
    assert len(world.outbox.to(1)) == 1 and len(world.outbox.to(2)) == 1  # the ready notices


async def test_a_rejected_referral_tells_both_customers_once(world: World) -> None:
    anna = await world.customer(1)
    await world.bind(anna, "18612345678")
    friend = await world.invited(anna, 2)
    await world.completed_recharge(friend, 50, "18612345678")
    await world.sweep()
    referral = await world.referral(friend)
    [held] = await world.referrals.held()
    assert (held.referral_id, held.reasons) == (referral.id, (AlertReason.SELF_REFERRAL,))
    assert await world.referrals.reject(referral.id)
    assert not await world.referrals.approve(referral.id)
    assert await world.referrals.held() == []
    review = await world.referrals.review(referral.id)
    assert review is not None and review.status is ReferralStatus.REJECTED
    await world.sweep()
    await world.sweep()
    assert world.outbox.to(1) == [
        "经审核，本次邀请奖励（200 积分）未能发放。如有疑问，请通过 /feedback 联系客服。"
    ]
    assert len(world.outbox.to(2)) == 1 and "¥5.00 红包" in world.outbox.to(2)[0]


COUPON_CAMPAIGN = (
    CAMPAIGN.format(cap=20, burst=5)
    .replace(
        'friend = { kind = "red_packet", yuan = 5 }',
        'friend = { kind = "coupon", coupon_code = "WALLET5" }',
    )
    .replace(
        "[campaigns.referral]",
        '[[campaigns.offers]]\ncode = "wallet5"\nkind = "coupon"\ncoupon_code = "WALLET5"\n'
        "discount_yuan = 5\n\n[campaigns.referral]",
    )
)


async def test_a_claimed_coupon_refunded_is_a_shortfall_for_staff(engine: AsyncEngine) -> None:
    world = World(engine)
    await world.services.campaigns.load(parse_campaign_file(COUPON_CAMPAIGN))
    anna = await world.customer(1)
    friend = await world.invited(anna, 2)
    order_id = await world.completed_recharge(friend, 50, "13100001111")
    await world.sweep()
    _, coupon = await world.rewards()
    assert (coupon.kind, coupon.coupon_code) == ("coupon", "WALLET5")
    claimed = await world.referrals.claim(friend.id, coupon.id)
    assert claimed.coupon_code == "WALLET5"
    await world.refund(order_id)
    await world.sweep()
    await world.sweep()
    assert {r.customer_id: r.status for r in await world.rewards()} == {
        anna.id: "revoked",
        friend.id: "clawed_back",
    }
    [shortfall] = await world.referrals.shortfalls()
    assert (shortfall.customer_id, shortfall.coupon_code) == (friend.id, "WALLET5")
    assert (shortfall.points, shortfall.amount) == (0, Money(0))
    [staff] = world.outbox.to(STAFF_CHAT)
    assert "优惠券 WALLET5 已发出，无法收回" in staff
    assert world.outbox.to(2)[-1].startswith(
        "↩️ 奖励所对应的首次充值已退款，您已领取的 优惠券 WALLET5 随之收回"
    )
