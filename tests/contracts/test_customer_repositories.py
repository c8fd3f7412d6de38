"""The customer, phone and conversation repositories' contract, held by the fake, SQLite and
PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import RecordConflict
from domain.repositories import CustomerRecord, NewCustomer
from tests.contracts.conftest import NOW, World

LATER = NOW + timedelta(hours=1)


async def registered(world: World, telegram_id: int) -> CustomerRecord:
    async with world.units() as uow:
        customer = await uow.customers.register(
            NewCustomer(telegram_id, "Li", None, "li", "zh_CN", NOW)
        )
        await uow.commit()
    return customer


async def test_a_customer_is_registered_once_per_telegram_account(world: World) -> None:
    customer = await registered(world, 501)
    assert (customer.telegram_id, customer.first_name, customer.username) == (501, "Li", "li")
    assert customer.registered_at == NOW and customer.erased_at is None
    with pytest.raises(RecordConflict):
        async with world.units() as uow:
            await uow.customers.register(NewCustomer(501, "Li", None, None, "en", NOW))
            await uow.commit()
    async with world.units.read() as uow:
        assert await uow.customers.get(customer.id) == customer
        assert await uow.customers.by_telegram_id(501) == customer
        assert await uow.customers.by_telegram_id(502) is None
        assert await uow.customers.get(customer.id + 100) is None


async def test_names_language_and_erasure_change_the_customer(world: World) -> None:
    customer = await registered(world, 601)
    async with world.units() as uow:
        await uow.customers.rename(customer.id, "Wei", "Zhang", None, LATER)
        await uow.customers.set_language(customer.id, "en")
        await uow.commit()
    async with world.units.read() as uow:
        renamed = await uow.customers.get(customer.id)
    assert renamed is not None
    assert (renamed.first_name, renamed.last_name, renamed.username) == ("Wei", "Zhang", None)
    assert (renamed.language, renamed.last_seen_at) == ("en", LATER)
    async with world.units() as uow:
        await uow.customers.erase(customer.id, LATER)
        await uow.commit()
    async with world.units.read() as uow:
        erased = await uow.customers.get(customer.id)
        assert await uow.customers.by_telegram_id(601) is None
    assert erased is not None and erased.erased_at == LATER
    assert (erased.telegram_id, erased.first_name, erased.last_name) == (None, None, None)
    await registered(world, 601)  # the same account registers anew


async def test_the_languages_of_several_customers_are_read_at_once_without_the_erased(
    world: World,
) -> None:
    chinese, english, erased = [await registered(world, t) for t in (701, 702, 703)]
    async with world.units() as uow:
        await uow.customers.set_language(english.id, "en")
        await uow.customers.erase(erased.id, LATER)
        await uow.commit()
    async with world.units.read() as uow:
        wanted = [chinese.id, english.id, erased.id, erased.id + 100]
        assert await uow.customers.languages(wanted) == {chinese.id: "zh_CN", english.id: "en"}
        assert await uow.customers.languages([]) == {}


async def test_a_turn_reads_the_customer_with_their_state_in_that_chat(world: World) -> None:
    customer = await registered(world, 701)
    async with world.units.read() as uow:
        first = await uow.customers.turn(701, 701)
        assert await uow.customers.turn(702, 702) is None
    assert first is not None and first.id == customer.id and first.language == "zh_CN"
    assert (first.conversation_id, first.step, first.data) == (None, None, None)
    async with world.units() as uow:
        await uow.conversations.upsert(701, 701, "phones.adding", {"n": 1}, NOW)
        await uow.conversations.upsert(701, 701, "recharge.amount", {"n": 2}, LATER)
        await uow.conversations.upsert(-5, 701, "group", {}, LATER)
        await uow.commit()
    async with world.units.read() as uow:
        turn = await uow.customers.turn(701, 701)
        state = await uow.conversations.find(701, 701)
        assert await uow.conversations.find(701, 702) is None
    assert turn is not None and turn.conversation_id is not None
    assert (turn.step, turn.data) == ("recharge.amount", {"n": 2})
    assert state is not None and (state.step, state.data, state.updated_at) == (
        "recharge.amount",
        {"n": 2},
        LATER,
    )


async def test_idle_conversations_go_back_and_a_forgotten_user_has_none(world: World) -> None:
    async with world.units() as uow:
        await uow.conversations.upsert(1, 1, "phones.adding", {"n": 1}, NOW)
        await uow.conversations.upsert(2, 2, "idle", {}, NOW)
        await uow.conversations.upsert(3, 3, "recharge.amount", {}, LATER)
        await uow.commit()
    async with world.units() as uow:
        assert await uow.conversations.reset_idle_since(NOW + timedelta(minutes=1), "idle") == 1
        await uow.conversations.forget_user(3)
        await uow.commit()
    async with world.units.read() as uow:
        reset = await uow.conversations.find(1, 1)
        assert await uow.conversations.find(3, 3) is None
    assert reset is not None and (reset.step, reset.data) == ("idle", {})


async def test_a_number_is_bound_only_to_a_customer_who_is_there_and_not_erased(
    world: World,
) -> None:
    """The check and the write are one: an erased customer (or an id nobody has) gets no
    number, whatever read of them came before."""
    gone, kept = await registered(world, 811), await registered(world, 812)
    async with world.units() as uow:
        await uow.customers.erase(gone.id, NOW)
        await uow.commit()
    async with world.units() as uow:
        assert await uow.phones.bind(gone.id, "13800138000", "mobile", LATER) is None
        assert await uow.phones.bind(kept.id + 1000, "13800138000", "mobile", LATER) is None
        bound = await uow.phones.bind(kept.id, "13800138000", "mobile", LATER, verified=True)
        await uow.commit()
    assert bound is not None and (bound.customer_id, bound.digits) == (kept.id, "13800138000")
    async with world.units.read() as uow:
        assert await uow.phones.of_customer(gone.id) == []
        assert await uow.phones.of_customer(kept.id + 1000) == []
        assert await uow.phones.of_customer(kept.id) == [bound]


async def test_a_number_is_bound_once_per_customer_and_removed_only_by_them(
    world: World,
) -> None:
    me, other = await registered(world, 801), await registered(world, 802)
    async with world.units() as uow:
        first = await uow.phones.bind(me.id, "13800138000", "mobile", NOW)
        second = await uow.phones.bind(me.id, "18600001111", "unicom", LATER)
        theirs = await uow.phones.bind(other.id, "13800138000", "mobile", NOW)
        await uow.commit()
    with pytest.raises(RecordConflict):
        async with world.units() as uow:
            await uow.phones.bind(me.id, "13800138000", "mobile", LATER)
            await uow.commit()
    async with world.units.read() as uow:
        mine = await uow.phones.of_customer(me.id)
    assert first is not None and mine == [first, second]
    assert (first.digits, first.carrier, first.bound_at) == ("13800138000", "mobile", NOW)
    async with world.units() as uow:
        assert not await uow.phones.remove(other.id, first.id)
        assert await uow.phones.remove(me.id, first.id)
        assert not await uow.phones.remove(me.id, first.id)
        await uow.commit()
    async with world.units() as uow:
        assert await uow.phones.of_customer(me.id) == [second]
        await uow.phones.remove_all(me.id)
        await uow.commit()
    async with world.units.read() as uow:
        assert await uow.phones.of_customer(me.id) == []
        assert await uow.phones.of_customer(other.id) == [theirs]


async def test_a_turn_reads_the_conversation_and_the_privacy_consent_with_the_customer(
    world: World,
) -> None:
    customer = await registered(world, 701)
    async with world.units.read() as uow:
        first = await uow.customers.turn(701, 701)
        assert await uow.customers.turn(702, 702) is None
    assert first is not None and first.id == customer.id
    assert (first.conversation_id, first.step, first.consented) == (None, None, False)
    async with world.units() as uow:
        await uow.conversations.upsert(701, 701, "phones.adding", {"n": 1}, NOW)
        await uow.consents.accept(customer.id, False, NOW)
        await uow.commit()
    async with world.units.read() as uow:
        later = await uow.customers.turn(701, 701)
        elsewhere = await uow.customers.turn(701, 9_701)
    assert later is not None and (later.step, later.data, later.consented) == (
        "phones.adding",
        {"n": 1},
        True,
    )
    assert elsewhere is not None and (elsewhere.step, elsewhere.consented) == (None, True)
