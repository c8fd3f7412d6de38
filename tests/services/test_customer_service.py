"""The customer and conversation services' rules on the fake unit of work (in memory); the
races (first contact twice at once, one number bound ten times at once) stay on SQLite and
PostgreSQL in tests/integration/test_persistence.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.conversation import ConversationState
from domain.customers import MAX_BOUND_PHONES, TelegramProfile
from domain.languages import Language
from domain.phone import Carrier, parse_phone_number
from domain.services.customers import (
    ConversationService,
    CustomerNotFound,
    CustomerService,
    PhoneAlreadyBound,
    TooManyPhones,
)
from domain.services.support import SupportService
from domain.tickets import ERASED_TEXT, Category
from tests.fakes.clock import ManualClock as Clock
from tests.fakes.unit_of_work import FakeDatabase, FakeUnitOfWorkFactory


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 11, 4, 0, tzinfo=UTC))


@pytest.fixture
def units(database: FakeDatabase) -> FakeUnitOfWorkFactory:
    return FakeUnitOfWorkFactory(database)


@pytest.fixture
def customers(units: FakeUnitOfWorkFactory, clock: Clock) -> CustomerService:
    return CustomerService(units, clock)


@pytest.fixture
def conversations(units: FakeUnitOfWorkFactory, clock: Clock) -> ConversationService:
    return ConversationService(units, clock)


async def test_first_contact_registers_with_a_wallet_and_later_turns_only_read(
    customers: CustomerService, database: FakeDatabase
) -> None:
    profile = TelegramProfile(555, "Li", language_code="en")
    first = await customers.begin_turn(profile, 555)
    assert first.customer.is_new and first.customer.language is Language.EN
    assert first.state.idle
    assert set(database.tables.wallets) == {first.customer.id}
    assert database.tables.points == {first.customer.id}
    commits = database.commits
    again = await customers.begin_turn(profile, 555)
    assert not again.customer.is_new and again.customer.id == first.customer.id
    assert database.commits == commits  # nothing to write


async def test_new_names_from_telegram_are_kept(
    customers: CustomerService, database: FakeDatabase, clock: Clock
) -> None:
    turn = await customers.begin_turn(TelegramProfile(556, "Li"), 556)
    clock.now += timedelta(days=1)
    renamed = await customers.begin_turn(TelegramProfile(556, "Wei", "Li", "weili"), 556)
    assert renamed.customer.id == turn.customer.id and renamed.customer.first_name == "Wei"
    stored = database.tables.customers[turn.customer.id]
    assert (stored.first_name, stored.last_name, stored.username) == ("Wei", "Li", "weili")
    assert stored.last_seen_at == clock.now


async def test_a_customer_switches_language(customers: CustomerService) -> None:
    turn = await customers.begin_turn(TelegramProfile(557, "Li", language_code="zh-hans"), 557)
    assert turn.customer.language is Language.ZH_CN
    switched = await customers.set_language(turn.customer.id, Language.EN)
    assert switched.language is Language.EN
    assert (await customers.get(turn.customer.id)).language is Language.EN
    with pytest.raises(CustomerNotFound):
        await customers.set_language(turn.customer.id + 1, Language.EN)


async def test_numbers_are_bound_once_up_to_the_limit_and_removed_by_their_owner(
    customers: CustomerService,
) -> None:
    me = (await customers.begin_turn(TelegramProfile(600, "Wang"), 600)).customer.id
    other = (await customers.begin_turn(TelegramProfile(601, "Zhou"), 601)).customer.id
    first = await customers.bind_phone(me, parse_phone_number("18612345678"))
    assert first.carrier is Carrier.UNICOM and first.digits == "18612345678"
    with pytest.raises(PhoneAlreadyBound):
        await customers.bind_phone(me, parse_phone_number("18612345678"))
    for n in range(1, MAX_BOUND_PHONES):
        await customers.bind_phone(me, parse_phone_number(f"1380013800{n}"))
    with pytest.raises(TooManyPhones):
        await customers.bind_phone(me, parse_phone_number("13900139000"))
    phones = await customers.phones(me)
    assert len(phones) == MAX_BOUND_PHONES and phones[0] == first
    assert not await customers.unbind_phone(other, first.id)
    assert await customers.unbind_phone(me, first.id)
    assert first not in await customers.phones(me)
    await customers.bind_phone(other, parse_phone_number("18612345678"))  # theirs too


async def test_an_erased_or_unknown_customer_binds_no_number(
    customers: CustomerService, database: FakeDatabase
) -> None:
    gone = (await customers.begin_turn(TelegramProfile(602, "Qian"), 602)).customer.id
    await customers.erase_personal_data(gone)
    for customer_id in (gone, gone + 1000):
        with pytest.raises(CustomerNotFound):
            await customers.bind_phone(customer_id, parse_phone_number("18612345678"))
    assert database.tables.phones == {}


async def test_conversation_state_survives_and_is_per_chat(
    customers: CustomerService, conversations: ConversationService
) -> None:
    profile = TelegramProfile(888, "Zhao")
    await customers.begin_turn(profile, 888)
    await conversations.save(888, 888, ConversationState("phones.adding", {"n": 1}))
    await conversations.save(-100, 888, ConversationState("other", {}))
    turn = await customers.begin_turn(profile, 888)
    assert turn.state == ConversationState("phones.adding", {"n": 1})
    group = await customers.begin_turn(profile, -100)
    assert group.state.step == "other"


async def test_abandoned_conversations_go_back_to_the_menu(
    customers: CustomerService, conversations: ConversationService, clock: Clock
) -> None:
    profile = TelegramProfile(999, "Sun")
    await customers.begin_turn(profile, 999)
    await conversations.save(999, 999, ConversationState("phones.adding"))
    clock.now += timedelta(hours=1)
    assert await conversations.reset_abandoned(idle_for_seconds=2 * 3600) == 0
    clock.now += timedelta(hours=2)
    assert await conversations.reset_abandoned(idle_for_seconds=2 * 3600) == 1
    assert (await customers.begin_turn(profile, 999)).state.idle
    assert await conversations.reset_abandoned(idle_for_seconds=2 * 3600) == 0


async def test_erasure_keeps_an_anonymous_row_and_nothing_personal(
    customers: CustomerService,
    conversations: ConversationService,
    units: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    clock: Clock,
) -> None:
    profile = TelegramProfile(1212, "Qian", "Wu", "qw", "en")
    turn = await customers.begin_turn(profile, 1212)
    me = turn.customer.id
    await customers.bind_phone(me, parse_phone_number("13800138000"))
    await conversations.save(1212, 1212, ConversationState("phones.adding"))
    support = SupportService(units, clock=clock)
    ticket = await support.open_ticket(me, 1212, Category.OTHER, "my address is ...")
    await customers.erase_personal_data(me)

    row = database.tables.customers[me]
    assert (row.telegram_id, row.first_name, row.last_name, row.username) == (None,) * 4
    assert row.erased_at == clock.now
    assert database.tables.phones == {} and database.tables.conversations == {}
    assert [line.text for line in await support.transcript(ticket.id)] == [ERASED_TEXT]
    with pytest.raises(CustomerNotFound):
        await customers.get(me)
    again = await customers.begin_turn(profile, 1212)
    assert again.customer.is_new and again.customer.id != me and again.state.idle
