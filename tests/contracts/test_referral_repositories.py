"""Invite codes, referrals and their rewards: a friend is referred once, a reward given once per
referral and side and claimed once (by its customer, within its window), an inviter's cap never
passed. The contract held by the fake, SQLite and PostgreSQL alike, races included."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from domain.errors import RecordConflict
from domain.referrals import ReferralStatus, RewardKind, RewardStatus, Side
from domain.repositories.referrals import NewReferral, NewReferralReward, NewShortfall
from tests.contracts.conftest import NOW, World

LATER = NOW + timedelta(minutes=5)
WINDOW = timedelta(days=7)


async def refer(world: World, inviter: int, friend: int) -> int:
    async with world.services() as uow:
        uow.referrals.add_referral(
            NewReferral(inviter, friend, ReferralStatus.JOINED.value, joined_at=NOW)
        )
        await uow.commit()
    async with world.services.read() as uow:
        joined = await uow.referrals.with_status(ReferralStatus.JOINED.value, 100)
    return next(r.id for r in joined if r.friend_id == friend)


def a_reward(referral_id: int, customer_id: int, side: Side) -> NewReferralReward:
    return NewReferralReward(
        referral_id=referral_id,
        customer_id=customer_id,
        side=side.value,
        kind=RewardKind.POINTS.value,
        points=100,
        amount_fen=0,
        coupon_code=None,
        status=RewardStatus.CLAIMABLE.value,
        created_at=NOW,
        claim_by=NOW + WINDOW,
    )


async def rewarded(world: World) -> tuple[int, int, int]:
    """(inviter, friend, the friend's reward) of a referral whose rewards are claimable."""
    inviter, friend = await world.customer(), await world.customer()
    referral_id = await refer(world, inviter, friend)
    async with world.services() as uow:
        uow.referrals.add_reward(a_reward(referral_id, inviter, Side.INVITER))
        uow.referrals.add_reward(a_reward(referral_id, friend, Side.FRIEND))
        await uow.commit()
    async with world.services.read() as uow:
        rewards = await uow.referrals.rewards_of(friend)
    return inviter, friend, rewards[0].id


async def claim(world: World, reward_id: int, customer_id: int, now: datetime = NOW) -> bool:
    async with world.services() as uow:
        moved = await uow.referrals.move_reward(
            reward_id,
            [RewardStatus.CLAIMABLE],
            RewardStatus.CLAIMED,
            customer_id=customer_id,
            claimable_after=now,
            claimed_at=now,
        )
        await uow.commit()
    return moved is not None


async def test_an_invite_code_is_one_customers_and_kept_once(world: World) -> None:
    me, other = await world.customer(), await world.customer()
    async with world.services() as uow:
        await uow.referrals.add_code(me, "ME123", NOW)
        await uow.referrals.add_code(me, "ME456", LATER)  # has one: the first stays
        await uow.commit()
    async with world.services.read() as uow:
        assert await uow.referrals.code_of(me) == "ME123"
        assert await uow.referrals.owner_of("ME123") == me
        assert await uow.referrals.owner_of("ME456") is None
    with pytest.raises(RecordConflict):
        async with world.services() as uow:
            await uow.referrals.add_code(other, "ME123", NOW)
            await uow.commit()
    async with world.services.read() as uow:
        assert await uow.referrals.code_of(other) is None


async def test_a_friend_is_referred_once(world: World) -> None:
    inviter, other, friend = [await world.customer() for _ in range(3)]
    await refer(world, inviter, friend)
    with pytest.raises(RecordConflict):
        async with world.services() as uow:
            uow.referrals.add_referral(
                NewReferral(other, friend, ReferralStatus.JOINED.value, joined_at=LATER)
            )
            await uow.commit()
    async with world.services.read() as uow:
        assert await uow.referrals.inviter_of(friend) == inviter
        assert await uow.referrals.of_inviter(inviter) == {ReferralStatus.JOINED.value: 1}
        assert await uow.referrals.of_inviter(other) == {}


async def test_of_attributions_of_one_friend_at_once_one_stands(world: World) -> None:
    inviters = [await world.customer() for _ in range(4)]
    friend = await world.customer()

    async def attribute(inviter: int) -> bool:
        try:
            async with world.services() as uow:
                uow.referrals.add_referral(
                    NewReferral(inviter, friend, ReferralStatus.JOINED.value, joined_at=NOW)
                )
                await uow.commit()
        except RecordConflict:
            return False
        return True

    stood = await asyncio.gather(*(attribute(inviter) for inviter in inviters))
    assert sum(stood) == 1
    async with world.services.read() as uow:
        assert await uow.referrals.inviter_of(friend) == inviters[stood.index(True)]


async def test_a_referral_moves_only_from_the_statuses_given(world: World) -> None:
    inviter, friend = await world.customer(), await world.customer()
    referral_id = await refer(world, inviter, friend)
    order_id = await world.order(friend)
    joined, qualified = ReferralStatus.JOINED.value, ReferralStatus.QUALIFIED.value
    async with world.services() as uow:
        assert await uow.referrals.move(
            referral_id, [joined], status=qualified, order_id=order_id, qualified_at=NOW
        )
        assert not await uow.referrals.move(referral_id, [joined], status=qualified)
        assert not await uow.referrals.approve_first(referral_id, 9)  # not held
        assert await uow.referrals.move(referral_id, [qualified], status="held")
        assert await uow.referrals.approve_first(referral_id, 9)
        assert not await uow.referrals.approve_first(referral_id, 10)  # once
        await uow.commit()
    async with world.services.read() as uow:
        referral = await uow.referrals.get(referral_id)
        assert await uow.referrals.qualified_since(inviter, NOW) == 1
    assert referral is not None
    assert (referral.status, referral.order_id, referral.first_approver) == ("held", order_id, 9)


async def test_an_order_qualifies_one_referral(world: World) -> None:
    inviter = await world.customer()
    friend, other = await world.customer(), await world.customer()
    first, second = await refer(world, inviter, friend), await refer(world, inviter, other)
    order_id = await world.order(friend)
    joined = [ReferralStatus.JOINED.value]
    async with world.services() as uow:
        assert await uow.referrals.move(first, joined, order_id=order_id)
        await uow.commit()
    with pytest.raises(RecordConflict):
        async with world.services() as uow:
            await uow.referrals.move(second, joined, order_id=order_id)
            await uow.commit()


async def test_a_reward_is_given_once_per_referral_and_side(world: World) -> None:
    _, friend, _ = await rewarded(world)
    async with world.services.read() as uow:
        referral_id = (await uow.referrals.rewards_of(friend))[0].referral_id
    with pytest.raises(RecordConflict):
        async with world.services() as uow:
            uow.referrals.add_reward(a_reward(referral_id, friend, Side.FRIEND))
            await uow.commit()
    async with world.services.read() as uow:
        sides = [r.side for r in await uow.referrals.rewards_of_referral(referral_id)]
    assert sides == [Side.INVITER.value, Side.FRIEND.value]


async def test_a_reward_is_claimed_once_by_its_customer_within_its_window(
    world: World,
) -> None:
    inviter, friend, reward_id = await rewarded(world)
    assert not await claim(world, reward_id, inviter)  # not theirs
    assert not await claim(world, reward_id, friend, NOW + WINDOW)  # too late
    assert await claim(world, reward_id, friend)
    assert not await claim(world, reward_id, friend)  # once
    async with world.services.read() as uow:
        reward = await uow.referrals.reward(reward_id)
    assert reward is not None
    assert (reward.status, reward.claimed_at) == (RewardStatus.CLAIMED.value, NOW)


async def test_of_claims_of_one_reward_at_once_one_gets_it(world: World) -> None:
    _, friend, reward_id = await rewarded(world)
    claimed = await asyncio.gather(*(claim(world, reward_id, friend) for _ in range(6)))
    assert sum(claimed) == 1


async def test_rewards_not_claimed_in_their_window_expire_once(world: World) -> None:
    _, friend, reward_id = await rewarded(world)
    claimable, expired = RewardStatus.CLAIMABLE.value, RewardStatus.EXPIRED.value
    async with world.services() as uow:
        assert (
            await uow.referrals.expire(claimable, expired, NOW + WINDOW - timedelta(seconds=1)) == 0
        )
        assert await uow.referrals.expire(claimable, expired, NOW + WINDOW) == 2
        assert await uow.referrals.expire(claimable, expired, NOW + WINDOW) == 0
        await uow.commit()
    assert not await claim(world, reward_id, friend)
    async with world.services() as uow:
        told = await uow.referrals.unnotified(expired, 10)
        assert len(told) == 2
        assert await uow.referrals.set_notified(told[0].id, True)
        assert not await uow.referrals.set_notified(told[0].id, True)
        await uow.commit()


async def test_an_inviters_cap_is_never_passed(world: World) -> None:
    inviter, other = await world.customer(), await world.customer()

    async def take(who: int, period: str = "2026-11") -> bool:
        async with world.services() as uow:
            taken = await uow.referrals.take_cap(who, period, 3)
            await uow.commit()
        return taken

    assert [await take(inviter) for _ in range(4)] == [True, True, True, False]
    assert await take(inviter, "2026-12")  # each period its own
    taken = await asyncio.gather(*(take(other) for _ in range(7)))
    assert sum(taken) == 3


async def test_a_shortfall_is_kept_once_per_reward_and_reported_once(world: World) -> None:
    _, friend, reward_id = await rewarded(world)
    shortfall = NewShortfall(reward_id, friend, points=40, amount_fen=0, at=NOW)
    async with world.services() as uow:
        uow.referrals.add_shortfall(shortfall)
        await uow.commit()
    with pytest.raises(RecordConflict):
        async with world.services() as uow:
            uow.referrals.add_shortfall(shortfall)
            await uow.commit()
    async with world.services() as uow:
        (kept,) = await uow.referrals.shortfalls(unsent_only=True, limit=10)
        assert (kept.reward_id, kept.points) == (reward_id, 40)
        assert await uow.referrals.set_shortfall_sent(kept.id, True)
        assert not await uow.referrals.set_shortfall_sent(kept.id, True)
        assert await uow.referrals.shortfalls(unsent_only=True, limit=10) == []
        await uow.commit()
