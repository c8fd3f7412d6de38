"""What a customer sees of their wallet, on the fake unit of work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.money import CNY, Money
from domain.services.wallet import WalletEntry, WalletService
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory

NOW = datetime(2026, 11, 11, 4, 0, tzinfo=UTC)


async def test_the_wallet_shows_its_balance_and_newest_entries_first() -> None:
    units = FakeUnitOfWorkFactory()
    me = units.database.add_customer()
    async with units() as uow:
        await uow.wallets.open(me, CNY)
        assert await uow.wallets.post(me, 5000, CNY, "topup", "t1", NOW)
        assert await uow.wallets.post(
            me, -3000, CNY, "payment", "p1", NOW + timedelta(minutes=1), order_id=7
        )
        await uow.commit()
    wallet = WalletService(units)
    assert await wallet.balance(me) == Money(2000, CNY)
    assert await wallet.ledger_balance(me) == await wallet.balance(me)
    assert await wallet.entries(me) == [
        WalletEntry(Money(-3000, CNY), "payment", 7, NOW + timedelta(minutes=1)),
        WalletEntry(Money(5000, CNY), "topup", None, NOW),
    ]
    assert len(await wallet.entries(me, limit=1)) == 1
    assert await wallet.balance(me + 1) == Money(0, CNY)
    assert await wallet.entries(me + 1) == []
