"""Risk rules on the fake unit of work: an order over a limit is held with a case for staff, a
freezing rule stops orders and redemptions until staff release the account, and of accounts
recharging one number at once only the allowed count pass. The same rules are proven on both
databases (`tests/integration/test_risk.py`)."""

from __future__ import annotations

import asyncio

import pytest

from domain.orders import OrderStatus
from domain.phone import parse_phone_number
from domain.risk import CaseStatus, Decision, RiskAction, RiskRule, RiskRules
from domain.services.loyalty import RedeemRefused
from domain.services.risk import AccountFrozen
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory
from tests.services.shop import NUMBER, Shop

STAFF = 777


async def test_a_freezing_rule_stops_orders_and_redemptions_until_released() -> None:
    freeze = {RiskRule.ORDERS_PER_HOUR: RiskAction.FREEZE}
    shop = Shop(FakeUnitOfWorkFactory(), rules=RiskRules(orders_per_hour=1, actions=freeze))
    await shop.load()
    customer = await shop.customer(1)
    await shop.order(customer, 50)
    held = await shop.order(customer, 50)
    assert held.held and await shop.risk.is_frozen(customer.id)
    with pytest.raises(AccountFrozen):
        await shop.order(customer, 50)
    reward = (await shop.rewards.rewards())[0]
    with pytest.raises(RedeemRefused) as refused:
        await shop.rewards.redeem(customer.id, reward.id, "tap-1")
    assert refused.value.reason == "frozen"
    [case] = await shop.risk.pending()
    kept = await shop.risk.decide(case.id, Decision.KEEP_FROZEN, STAFF, "Li")
    assert kept is not None and kept.case.status is CaseStatus.KEPT_FROZEN
    assert (await shop.paying.get(held.id)).status is OrderStatus.EXPIRED
    again = await shop.risk.decide(case.id, Decision.REFUND, STAFF, "Li")
    assert again is not None and not again.done  # decided once
    released = await shop.risk.decide(case.id, Decision.RELEASE, STAFF, "Li")
    assert released is not None and released.done
    assert not await shop.risk.is_frozen(customer.id)
    shop.clock.advance(hours=1)
    assert (await shop.order(customer, 50)).status is OrderStatus.CREATED


async def test_accounts_at_once_cannot_all_slip_under_the_count_of_one_number() -> None:
    shop = Shop(FakeUnitOfWorkFactory(), rules=RiskRules(accounts_per_number=3))
    await shop.load()
    customers = [await shop.customer(telegram_id) for telegram_id in range(1, 11)]
    orders = await asyncio.gather(*(shop.order(c, 50) for c in customers))
    assert sum(o.status is OrderStatus.CREATED for o in orders) == 3
    assert sum(o.held for o in orders) == 7
    cases = await shop.risk.pending(50)
    assert {c.rule for c in cases} == {RiskRule.ACCOUNTS_PER_NUMBER} and len(cases) == 7
    held = customers[next(n for n, o in enumerate(orders) if o.held)]
    other = parse_phone_number("13900000000")
    assert (await shop.order(held, 50, other)).status is OrderStatus.CREATED
    shop.clock.advance(days=1)
    assert (await shop.order(held, 50, NUMBER)).status is OrderStatus.CREATED
