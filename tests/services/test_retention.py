"""The retention sweep on the fake unit of work: customers with no sign of life for the period
are erased (their orders kept, the number anonymised), those who came back or have money in
their wallet keep everything. The sweep's lease and the databases are tested in
`tests/integration/test_retention.py`."""

from __future__ import annotations

from datetime import timedelta

from domain.money import Money
from domain.orders import PaymentMethod
from domain.services.privacy import PrivacyService
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory
from tests.services.shop import S, Shop


async def test_inactive_customers_without_money_are_erased_and_their_orders_kept() -> None:
    units = FakeUnitOfWorkFactory()
    shop = Shop(units)
    await shop.load()
    privacy = PrivacyService(units, shop.clock)
    gone, rich, back = await shop.customer(1), await shop.customer(2), await shop.customer(3)
    order = await shop.recharge(gone, 50)
    assert order.status is S.COMPLETED
    top_up = await shop.ordering.create_wallet_topup(rich.id, 2, Money.yuan(30))
    await shop.paying.pay_with_provider(rich.id, top_up.id, PaymentMethod.SANDBOX)
    shop.clock.advance(days=800)
    await shop.customer(3)  # came back
    assert await privacy.erase_inactive(timedelta(days=730)) == 1
    assert await privacy.erase_inactive(timedelta(days=730)) == 0
    async with units.read() as uow:
        erased, kept_theirs, came_back = [await uow.customers.get(c.id) for c in (gone, rich, back)]
        kept = await uow.orders.get(order.id)
    assert erased is not None and erased.telegram_id is None and erased.erased_at is not None
    assert kept_theirs is not None and kept_theirs.erased_at is None
    assert came_back is not None and came_back.erased_at is None
    assert kept is not None and kept.status == "completed" and kept.phone_digits == "186****5678"
    assert await shop.wallet.balance(rich.id) == Money.yuan(30)
