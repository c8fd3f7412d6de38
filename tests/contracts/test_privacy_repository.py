"""Which customers retention erases: those with no sign of life since a date and no money left
in their wallet. The contract held by the fake, SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

from domain.allowances import UNLIMITED
from domain.repositories import NewTicket
from tests.contracts.conftest import NOW, World
from tests.contracts.test_order_repository import a_recharge

SINCE = NOW + timedelta(days=1)
AFTER = SINCE + timedelta(hours=1)


async def test_only_customers_with_no_sign_of_life_and_no_money_are_inactive(
    world: World,
) -> None:
    quiet, spent, ordering, asking, chatting, holding, erased = [
        await world.customer() for _ in range(7)
    ]
    async with world.units() as uow:
        assert await uow.wallets.post(spent, 500, "CNY", "topup", "in", NOW)
        assert await uow.wallets.post(spent, -500, "CNY", "payment", "out", NOW)
        assert await uow.wallets.post(holding, 100, "CNY", "topup", "kept", NOW)
        await uow.orders.add(a_recharge(ordering), "customer", UNLIMITED)
        await uow.commit()
    async with world.units() as uow:
        ticket = NewTicket(asking, 1, "other", "normal", "open", None, AFTER)
        await uow.support.open_ticket(ticket)
        customer = await uow.customers.get(chatting)
        assert customer is not None and customer.telegram_id is not None
        await uow.conversations.upsert(1, customer.telegram_id, "menu", {}, AFTER)
        moved = await uow.orders.of_customer(ordering, 1)
        await uow.orders.move(moved[0].id, ["created"], "expired", "sweep", AFTER)
        await uow.customers.erase(erased, NOW)
        await uow.commit()
    async with world.units.read() as uow:
        inactive = await uow.privacy.inactive_customers(SINCE, 10)
        first = await uow.privacy.inactive_customers(SINCE, 1)
        before = await uow.privacy.inactive_customers(NOW - timedelta(days=400), 10)
    assert inactive == [quiet, spent]
    assert first == [quiet]
    assert before == []
