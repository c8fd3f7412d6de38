"""Referrals through every service at once (`build_services`) on the fake unit of work: a
friend who came through an invite link and recharged qualifies once however many sweeps run,
and each reward is credited once however many taps arrive, in milliseconds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from domain.campaign_file import parse_campaign_file
from domain.catalogue import ProductKind
from domain.customers import Customer, TelegramProfile
from domain.integrations.sandbox import SandboxGateway, SandboxPayments
from domain.money import Money
from domain.orders import OrderStatus, PaymentMethod
from domain.phone import parse_phone_number
from domain.referrals import RewardKind, start_payload
from domain.repositories.services import ServicesUnitOfWorkFactory
from domain.services.recharge import RechargeConfig
from domain.services.referrals import ClaimRefused
from domain.services.registry import DEFAULT_LIMITS, Ports, Services, build_services
from tests.fakes.clock import ManualClock
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory

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
inviter = { kind = "points", points = 200 }
friend = { kind = "red_packet", yuan = 5 }
claim_days = 7
cap_per_inviter = 20
cap_period_days = 30
burst_count = 5
burst_minutes = 60
"""


@pytest.fixture
def units() -> ServicesUnitOfWorkFactory:
    return FakeUnitOfWorkFactory()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 11, 2, 0, tzinfo=UTC))


@pytest.fixture
async def services(units: ServicesUnitOfWorkFactory, clock: ManualClock) -> Services:
    ports = Ports(SandboxGateway(timedelta(0), clock), {PaymentMethod.SANDBOX: SandboxPayments()})
    orders = RechargeConfig(limits=DEFAULT_LIMITS, methods=(PaymentMethod.SANDBOX,))
    services = build_services(units, clock, ports=ports, recharge=orders)
    await services.campaigns.load(parse_campaign_file(CAMPAIGN))
    return services


async def customer(services: Services, telegram_id: int) -> Customer:
    profile = TelegramProfile(telegram_id, f"客户{telegram_id}")
    return (await services.customers.begin_turn(profile, telegram_id)).customer


async def recharge(services: Services, who: Customer, yuan: int, digits: str) -> None:
    """`yuan` of call credit, paid by the sandbox provider and topped up."""
    products = await services.ordering.products(ProductKind.CREDIT)
    product = next(p for p in products if p.price == Money.yuan(yuan))
    number = parse_phone_number(digits)
    order = await services.ordering.create_order(who.id, who.id, number, product.id)
    paid = await services.paying.pay_with_provider(who.id, order.id, PaymentMethod.SANDBOX)
    assert paid.status is OrderStatus.COMPLETED


async def test_a_friends_recharge_qualifies_once_and_each_reward_is_credited_once(
    services: Services,
) -> None:
    anna, friend = await customer(services, 1), await customer(services, 2)
    code = await services.referrals.invite_code(anna.id)
    assert await services.referrals.attribute(friend.id, start_payload(code))
    assert not await services.referrals.attribute(friend.id, start_payload(code))  # first touch
    await recharge(services, friend, 50, "13100001111")

    qualified = await asyncio.gather(*(services.referrals.qualify_due() for _ in range(4)))
    assert sum(len(ids) for ids in qualified) == 1
    [for_anna] = await services.referrals.unclaimed(anna.id)
    [for_friend] = await services.referrals.unclaimed(friend.id)
    assert (for_anna.kind, for_friend.kind) == (RewardKind.POINTS, RewardKind.RED_PACKET)

    taps = await asyncio.gather(
        *(services.referrals.claim(anna.id, for_anna.id) for _ in range(8)),
        *(services.referrals.claim(friend.id, for_friend.id) for _ in range(8)),
        return_exceptions=True,
    )
    assert sum(not isinstance(tap, BaseException) for tap in taps) == 2
    assert all(isinstance(tap, ClaimRefused) for tap in taps if isinstance(tap, BaseException))
    assert await services.loyalty.balance(anna.id) == (200, 200)
    assert await services.wallet.balance(friend.id) == Money.yuan(5)
    with pytest.raises(ClaimRefused, match="claimed"):
        await services.referrals.claim(anna.id, for_anna.id)
