"""The order repository's contract, held by the fake, SQLite and PostgreSQL alike: an order
moves only from the status it is in, with its history, its customer's total of the day, its
payment, its grant and its offers' slots in the same transaction."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from domain.allowances import UNLIMITED
from domain.errors import RecordConflict
from domain.orders import LimitExceeded
from domain.repositories import (
    Cashback,
    Grant,
    NewOrder,
    NewPayment,
    OrderChange,
    OrderRecord,
    PointsEarning,
    SlotClaim,
)
from tests.contracts.conftest import NOW, World

LATER = NOW + timedelta(minutes=3)


def a_recharge(customer_id: int, amount_fen: int = 3000, status: str = "created") -> NewOrder:
    return NewOrder(
        customer_id=customer_id,
        purpose="recharge",
        status=status,
        amount_fen=amount_fen,
        currency="CNY",
        created_at=NOW,
        expires_at=NOW + timedelta(minutes=15),
        chat_id=42,
        phone_digits="13800138000",
        carrier="mobile",
        product_name_zh="话费",
        product_name_en="Call credit",
    )


async def add(world: World, order: NewOrder, limit: int = UNLIMITED) -> OrderRecord:
    async with world.units() as uow:
        kept = await uow.orders.add(order, "customer", limit)
        await uow.commit()
    return kept


async def move(
    world: World, order_id: int, sources: list[str], target: str, **values: Any
) -> OrderRecord | None:
    async with world.units() as uow:
        moved = await uow.orders.move(order_id, sources, target, "test", LATER, **values)
        await uow.commit()
    return moved


async def test_a_new_order_is_kept_as_given_with_its_first_history_line(world: World) -> None:
    me = await world.customer()
    kept = await add(world, a_recharge(me))
    async with world.units.read() as uow:
        read = await uow.orders.get(kept.id)
        events = await uow.orders.events(kept.id)
        mine = await uow.orders.of_customer(me, 10)
    assert read == kept
    assert (kept.customer_id, kept.status, kept.amount_fen, kept.chat_id) == (
        me,
        "created",
        3000,
        42,
    )
    assert (kept.updated_at, kept.outcome_notified, kept.last_cause) == (NOW, False, "customer")
    assert (kept.product_name_en, kept.phone_digits, kept.quote) == (
        "Call credit",
        "13800138000",
        None,
    )
    assert [(e.from_status, e.to_status, e.cause) for e in events] == [
        (None, "created", "customer")
    ]
    assert mine == [kept]


async def test_the_days_total_holds_however_many_orders_arrive_at_once(world: World) -> None:
    me = await world.customer()

    async def attempt() -> bool:
        try:
            await add(world, a_recharge(me), limit=9000)
        except LimitExceeded:
            return False
        return True

    made = await asyncio.gather(*(attempt() for _ in range(8)))
    assert sorted(made) == [False] * 5 + [True] * 3
    async with world.units.read() as uow:
        assert len(await uow.orders.of_customer(me, 20)) == 3


async def test_an_order_moves_only_from_the_status_it_is_in_with_its_history(world: World) -> None:
    me = await world.customer()
    order = (await add(world, a_recharge(me))).id
    assert await move(world, order, ["paid"], "topping_up") is None
    moved = await move(
        world, order, ["created", "held"], "awaiting_payment", payment_method="wallet"
    )
    assert moved is not None
    assert (moved.status, moved.payment_method, moved.updated_at) == (
        "awaiting_payment",
        "wallet",
        LATER,
    )
    assert await move(world, order, ["created"], "awaiting_payment") is None
    kept = await move(world, order, ["awaiting_payment"], "awaiting_payment")
    assert kept is not None and kept.status == "awaiting_payment"
    async with world.units() as uow:
        await uow.orders.record(order, "awaiting_payment", "awaiting_payment", "a note", LATER)
        await uow.orders.set_values(order, gateway_reference="ref-1")
        await uow.commit()
    async with world.units.read() as uow:
        events = await uow.orders.events(order)
        read = await uow.orders.get(order)
        noted = await uow.orders.events_since(me, "a note", NOW)
    assert [(e.from_status, e.to_status, e.cause) for e in events] == [
        (None, "created", "customer"),
        ("created", "awaiting_payment", "test"),
        ("awaiting_payment", "awaiting_payment", "test"),
        ("awaiting_payment", "awaiting_payment", "a note"),
    ]
    assert read is not None and read.gateway_reference == "ref-1" and noted == 1


async def test_of_concurrent_payments_of_one_order_one_applies(world: World) -> None:
    me = await world.customer()
    order = (await add(world, a_recharge(me, status="awaiting_payment"))).id

    async def pay(reference: str) -> OrderRecord | None:
        payment = NewPayment("sandbox", reference, LATER)
        return await move(world, order, ["awaiting_payment"], "paid", payment=payment)

    paid = [p for p in await asyncio.gather(*(pay(f"r{i}") for i in range(6))) if p is not None]
    assert len(paid) == 1 and paid[0].status == "paid"
    async with world.units.read() as uow:
        payment = await uow.payments.of_order(order)
    assert payment is not None and (payment.amount_fen, payment.currency) == (3000, "CNY")
    with pytest.raises(RecordConflict):  # a second payment of the order
        async with world.units() as uow:
            await uow.orders.set_values(order, status="awaiting_payment")
            await uow.orders.move(
                order,
                ["awaiting_payment"],
                "paid",
                "again",
                LATER,
                payment=NewPayment("sandbox", "late", LATER),
            )
            await uow.commit()


async def test_leaving_the_statuses_that_count_gives_the_days_total_back(world: World) -> None:
    me = await world.customer()
    first = await add(world, a_recharge(me), limit=5000)
    with pytest.raises(LimitExceeded):
        await add(world, a_recharge(me), limit=5000)
    assert await move(world, first.id, ["created"], "expired") is not None
    assert (await add(world, a_recharge(me), limit=5000)).status == "created"


async def test_an_unpaid_order_changes_in_place_only_as_it_was_read(world: World) -> None:
    me = await world.customer()
    was = await add(world, a_recharge(me), limit=5000)
    cheaper = OrderChange(
        amount_fen=2500, list_price_fen=3000, quote={"points": 25}, coupon_code="SAVE5"
    )
    async with world.units() as uow:
        changed = await uow.orders.change_unpaid(was, cheaper, "coupon SAVE5", LATER, 5000)
        await uow.commit()
    assert changed is not None
    assert (changed.id, changed.amount_fen, changed.coupon_code, changed.quote) == (
        was.id,
        2500,
        "SAVE5",
        {"points": 25},
    )
    async with world.units() as uow:  # read before the change: changes nothing
        assert await uow.orders.change_unpaid(was, cheaper, "stale", LATER, 5000) is None
    dearer = OrderChange(amount_fen=5500, list_price_fen=5500, quote=None, coupon_code="SAVE5")
    with pytest.raises(LimitExceeded):
        async with world.units() as uow:
            await uow.orders.change_unpaid(changed, dearer, "pack added", LATER, 5000)
    async with world.units.read() as uow:
        read = await uow.orders.get(was.id)
        causes = [e.cause for e in await uow.orders.events(was.id)]
    assert read == changed and causes == ["customer", "coupon SAVE5"]
    assert await move(world, was.id, ["created"], "awaiting_payment") is not None
    async with world.units() as uow:  # its payment started
        assert await uow.orders.change_unpaid(changed, cheaper, "late", LATER, 5000) is None


async def test_a_payment_starts_only_on_the_owners_new_order_of_a_paid_purpose(
    world: World,
) -> None:
    me, other = await world.customer(), await world.customer()
    order = (await add(world, a_recharge(me))).id

    async def start(owner: int, purposes: list[str], at: datetime = LATER) -> OrderRecord | None:
        async with world.units() as uow:
            started = await uow.orders.start_payment(order, owner, purposes, "sandbox", "pay", at)
            await uow.commit()
        return started

    assert await start(other, ["recharge"]) is None
    assert await start(me, ["wallet_topup"]) is None
    assert await start(me, ["recharge"], NOW + timedelta(minutes=15)) is None
    started = await start(me, ["recharge"])
    assert started is not None and (started.status, started.payment_method) == (
        "awaiting_payment",
        "sandbox",
    )
    assert await start(me, ["recharge"]) is None


async def test_completing_grants_points_and_cashback_once(world: World) -> None:
    me = await world.customer()
    async with world.units() as uow:
        await uow.points.open(me)
        await uow.commit()
    order = (await add(world, a_recharge(me, status="topping_up"))).id
    grant = Grant(PointsEarning(30, f"earn:{order}"), Cashback(200, "CNY", f"cashback:{order}"))
    assert await move(world, order, ["topping_up"], "completed", grant=grant) is not None
    async with world.units() as uow:  # a replay grants nothing again
        assert not await uow.orders.grant(order, me, grant, LATER)
        await uow.commit()
    async with world.units.read() as uow:
        wallet = await uow.wallets.balance(me)
    assert (await world.points(me), wallet) == (30, 200)


async def test_a_red_packet_granted_twice_at_once_is_credited_once(world: World) -> None:
    """Two grants of one order's red packet racing (its cash-back, no points): the wallet gets
    it once, and neither grant fails."""
    me = await world.customer()
    order = (await add(world, a_recharge(me, status="topping_up"))).id
    grant = Grant(cashback=Cashback(1000, "CNY", f"cashback:{order}"))

    async def grant_it() -> bool:
        async with world.units() as uow:
            granted = await uow.orders.grant(order, me, grant, LATER)
            await uow.commit()
        return granted

    assert await asyncio.gather(*(grant_it() for _ in range(4))) == [True] * 4
    async with world.units.read() as uow:
        assert (await uow.wallets.balance(me), await uow.wallets.ledger_sum(me)) == (1000, 1000)


async def test_a_customer_without_a_points_balance_is_not_granted(world: World) -> None:
    me = await world.customer()
    order = (await add(world, a_recharge(me, status="topping_up"))).id
    with pytest.raises(ValueError, match="points"):
        await move(world, order, ["topping_up"], "completed", grant=Grant(PointsEarning(5, "k")))
    async with world.units.read() as uow:
        read = await uow.orders.get(order)
    assert read is not None and read.status == "topping_up"


async def test_a_move_takes_its_offers_slots_all_or_moves_not(world: World) -> None:
    me = await world.customer()
    one_left, budget = await world.offer(quota=1), await world.offer(budget_fen=5000)
    first = (await add(world, a_recharge(me, status="paid"))).id
    second = (await add(world, a_recharge(me, status="paid"))).id
    slot, cash = SlotClaim(one_left, me), SlotClaim(budget, me, cashback_fen=1000)
    assert await move(world, first, ["paid"], "topping_up", claims=[slot, cash]) is not None
    assert await move(world, second, ["paid"], "topping_up", claims=[cash, slot]) is None
    assert await world.offer_taken(one_left) == (1, 0)
    assert await world.offer_taken(budget) == (2, 2000)  # the second's stays held
    assert await move(world, first, ["paid"], "topping_up", claims=[cash]) is None
    assert await world.offer_taken(budget) == (2, 2000)
    # The second order holds the budget's slot already: a mover claiming it again lost a race.
    with pytest.raises(RecordConflict):
        async with world.units() as uow:
            await uow.orders.move(second, ["paid"], "topping_up", "again", LATER, claims=[cash])
            await uow.commit()


async def test_of_concurrent_sends_only_those_with_a_slot_move(world: World) -> None:
    me = await world.customer()
    offer = await world.offer(quota=2)
    orders = [(await add(world, a_recharge(me, status="paid"))).id for _ in range(5)]
    sent = await asyncio.gather(
        *(move(world, o, ["paid"], "topping_up", claims=[SlotClaim(offer, me)]) for o in orders)
    )
    assert sum(s is not None for s in sent) == 2
    assert await world.offer_taken(offer) == (2, 0)


async def test_sweeps_find_the_orders_due(world: World) -> None:
    me = await world.customer()
    unpaid = (await add(world, a_recharge(me))).id
    sending = (await add(world, a_recharge(me, status="paid"))).id
    done = (await add(world, a_recharge(me, status="completed"))).id
    await move(world, sending, ["paid"], "awaiting_payment", payment_method="sandbox")
    async with world.units() as uow:
        due = NOW + timedelta(minutes=15)
        assert await uow.orders.due_for_expiry(due, ["created"]) == [unpaid]
        assert await uow.orders.due_for_expiry(NOW, ["created"]) == []
        in_flight = await uow.orders.in_flight(NOW, ["created", "completed"], 10)
        assert [(o.id, o.status) for o in in_flight] == [(unpaid, "created"), (done, "completed")]
        assert await uow.orders.awaiting_provider(["awaiting_payment"], ["sandbox"]) == [sending]
        assert [o.id for o in await uow.orders.unnotified(["completed"], 10, NOW)] == [done]
        assert await uow.orders.claim_outcome(done, NOW, LATER)
        assert not await uow.orders.claim_outcome(done, NOW, LATER)  # told by another now
        assert await uow.orders.unnotified(["completed"], 10, NOW) == []
        assert await uow.orders.claim_outcome(done, LATER, LATER + timedelta(minutes=5))  # lapsed
        await uow.orders.release_outcome(done)
        assert [o.id for o in await uow.orders.unnotified(["completed"], 10, NOW)] == [done]
        await uow.orders.outcome_told(done)
        assert not await uow.orders.claim_outcome(done, LATER, LATER)
        await uow.orders.anonymise_phones(me)
        read = await uow.orders.get(unpaid)
        await uow.commit()
    assert read is not None and read.phone_digits == "138****8000"
