"""The payment repository's contract, held by the fake, SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import RecordConflict
from domain.repositories import NewPayment
from tests.contracts.conftest import NOW, World

LATER = NOW + timedelta(minutes=3)


def paid(charge: str | None = None, amount_fen: int = 3000) -> NewPayment:
    return NewPayment("telegram", "provider-1", NOW, charge, amount_fen, "CNY")


async def test_an_order_is_paid_once_and_a_charge_pays_once(world: World) -> None:
    me = await world.customer()
    first, second = await world.order(me, "paid"), await world.order(me, "paid")
    async with world.units() as uow:
        await uow.payments.add(first, paid("charge-1"))
        await uow.commit()
    with pytest.raises(RecordConflict):
        async with world.units() as uow:
            await uow.payments.add(first, paid("charge-2"))
            await uow.commit()
    with pytest.raises(RecordConflict):
        async with world.units() as uow:
            await uow.payments.add(second, paid("charge-1"))
            await uow.commit()
    async with world.units.read() as uow:
        kept = await uow.payments.of_order(first)
        assert await uow.payments.by_telegram_charge("charge-1") == kept
        assert await uow.payments.by_telegram_charge("charge-2") is None
        assert await uow.payments.of_order(second) is None
    assert kept is not None
    assert (kept.order_id, kept.method, kept.reference) == (first, "telegram", "provider-1")
    assert (kept.amount_fen, kept.currency, kept.captured_at) == (3000, "CNY", NOW)
    assert (kept.refunded_at, kept.refund_route) == (None, None)


async def test_payments_without_a_charge_do_not_collide(world: World) -> None:
    me = await world.customer()
    first, second = await world.order(me, "paid"), await world.order(me, "paid")
    async with world.units() as uow:
        await uow.payments.add(first, paid())
        await uow.payments.add(second, paid(amount_fen=500))
        await uow.commit()
    async with world.units.read() as uow:
        kept = await uow.payments.of_order(second)
    assert kept is not None and kept.amount_fen == 500 and kept.telegram_charge_id is None


async def test_a_payment_is_refunded_once(world: World) -> None:
    me = await world.customer()
    order = await world.order(me, "failed")
    async with world.units() as uow:
        assert not await uow.payments.mark_refunded(order, LATER, "wallet")  # none yet
        await uow.payments.add(order, paid("charge-9"))
        assert await uow.payments.mark_refunded(order, LATER, "wallet")
        assert not await uow.payments.mark_refunded(order, LATER, "provider")
        await uow.commit()
    async with world.units.read() as uow:
        kept = await uow.payments.of_order(order)
    assert kept is not None and (kept.refunded_at, kept.refund_route) == (LATER, "wallet")


async def test_a_refund_is_claimed_once_until_its_claim_is_stale_or_given_up(world: World) -> None:
    me = await world.customer()
    order = await world.order(me, "failed")
    stale_before = NOW - timedelta(minutes=10)
    async with world.units() as uow:
        assert not await uow.payments.claim_refund(order, NOW, stale_before)  # none yet
        await uow.payments.add(order, paid())
        assert await uow.payments.claim_refund(order, NOW, stale_before)
        assert not await uow.payments.claim_refund(order, NOW, stale_before)  # held
        assert not await uow.payments.release_refund_claim(order, LATER)  # not that claim
        assert await uow.payments.release_refund_claim(order, NOW)
        assert await uow.payments.claim_refund(order, NOW, stale_before)  # given up: again
        # Stale once `stale_before` is past it: taken over, and the old claim is gone.
        assert await uow.payments.claim_refund(order, LATER, LATER - timedelta(minutes=1))
        assert not await uow.payments.release_refund_claim(order, NOW)
        await uow.commit()
    async with world.units.read() as uow:
        kept = await uow.payments.of_order(order)
    assert kept is not None and kept.refund_claimed_at == LATER
    async with world.units() as uow:
        assert await uow.payments.mark_refunded(order, LATER, "provider")
        assert not await uow.payments.claim_refund(order, LATER, LATER + timedelta(days=1))
        assert not await uow.payments.release_refund_claim(order, LATER)
        await uow.commit()


async def test_a_customers_latest_payment_is_the_last_kept_for_any_of_its_orders(
    world: World,
) -> None:
    """What counts a customer's declined payments in a row since its last payment."""
    me, other = await world.customer(), await world.customer()
    first, second = await world.order(me, "paid"), await world.order(me, "paid")
    theirs = await world.order(other, "paid")
    async with world.units.read() as uow:
        assert await uow.payments.latest_of_customer(me) is None
    kept = []
    for order in (first, theirs, second):
        async with world.units() as uow:
            kept.append(await uow.payments.add(order, paid()))
            await uow.commit()
    async with world.units.read() as uow:
        assert await uow.payments.latest_of_customer(me) == kept[2]
        assert await uow.payments.latest_of_customer(other) == kept[1]
