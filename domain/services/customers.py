"""Customer use cases: registration on each turn, language, phone numbers, erasure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.clock import Clock, utc_now
from domain.conversation import IDLE, ConversationState
from domain.customers import MAX_BOUND_PHONES, BoundPhone, Customer, TelegramProfile
from domain.errors import RecordConflict
from domain.languages import Language, language_from_telegram
from domain.money import CNY
from domain.phone import Carrier, PhoneNumber
from domain.repositories import (
    CustomerRecord,
    NewCustomer,
    PhoneBindingRecord,
    TurnRecord,
    UnitOfWork,
    UnitOfWorkFactory,
)
from domain.services.support import TRANSCRIPT
from domain.tickets import ERASED_TEXT

# A customer's last sight is written at most this often (most turns only read).
SEEN_EVERY = timedelta(days=1)

# The support messages that are free text (the complaint, the customer's and staff's words).
ERASED_KINDS = tuple(kind.value for kind in TRANSCRIPT)


class CustomerNotFound(LookupError):
    pass


class PhoneAlreadyBound(ValueError):
    pass


class TooManyPhones(ValueError):
    pass


@dataclass(frozen=True)
class Turn:
    """What one incoming event starts from: who the customer is, where they were, whether
    they agreed to the privacy notice and whether they set a payment PIN (read with the rest,
    so a turn that asks need not read them again)."""

    customer: Customer
    state: ConversationState
    consented: bool = False
    pin_set: bool = False


def _customer(row: CustomerRecord | TurnRecord, *, is_new: bool = False) -> Customer:
    assert row.telegram_id is not None  # an erased customer is never served
    return Customer(
        id=row.id,
        telegram_id=row.telegram_id,
        first_name=row.first_name,
        language=Language(row.language),
        registered_at=row.registered_at,
        is_new=is_new,
    )


def _bound_phone(row: PhoneBindingRecord) -> BoundPhone:
    return BoundPhone(
        id=row.id, digits=row.digits, carrier=Carrier(row.carrier), bound_at=row.bound_at
    )


async def erase_customer(uow: UnitOfWork, row: CustomerRecord, at: datetime) -> None:
    """Erase one customer's personal data in `uow` (see `CustomerService.erase_personal_data`);
    the caller commits."""
    if row.telegram_id is not None:
        await uow.conversations.forget_user(row.telegram_id)
    await uow.orders.anonymise_phones(row.id)
    await uow.privacy.forget_chats(row.id)
    await uow.phones.remove_all(row.id)
    await uow.privacy.forget_secrets(row.id)
    await uow.support.erase_customer(row.id, ERASED_TEXT, ERASED_KINDS)
    await uow.customers.erase(row.id, at)


class CustomerService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock = utc_now) -> None:
        self._uow = uow
        self._clock = clock

    async def begin_turn(self, profile: TelegramProfile, chat_id: int) -> Turn:
        """Register the customer on first contact (or refresh their names) and load the state.

        Most turns only read (a known customer, same names): they take no write lock.
        """
        async with self._uow.read() as uow:
            row = await uow.customers.turn(profile.telegram_id, chat_id)
        if row is not None and (row.first_name, row.last_name, row.username) == (
            profile.first_name,
            profile.last_name,
            profile.username,
        ):
            state = (
                ConversationState(step=row.step, data=dict(row.data or {}))
                if row.step is not None
                else ConversationState()
            )
            now = self._clock()
            if now - row.last_seen_at >= SEEN_EVERY:
                async with self._uow() as uow:
                    await uow.customers.seen(row.id, now, now - SEEN_EVERY)
                    await uow.commit()
            return Turn(
                customer=_customer(row), state=state, consented=row.consented, pin_set=row.pin_set
            )
        try:
            if row is None:
                return await self._first_turn(profile)
            return await self._begin_turn(profile, chat_id)
        except RecordConflict:
            # Two updates of a brand-new customer raced to register; the other one won.
            return await self._begin_turn(profile, chat_id)

    async def _first_turn(self, profile: TelegramProfile) -> Turn:
        """A customer's first contact (the turn's read found nobody): their rows, written
        without reading anything again, and a conversation not begun (a flash sale is mostly
        customers who never wrote before). A second update that registered them meanwhile
        makes the insert fail (`RecordConflict`), and the turn begins as for a known one."""
        async with self._uow() as uow:
            row = await self._register(uow, profile, self._clock())
            await uow.commit()
        return Turn(customer=_customer(row, is_new=True), state=ConversationState())

    async def _register(
        self, uow: UnitOfWork, profile: TelegramProfile, now: datetime
    ) -> CustomerRecord:
        row = await uow.customers.register(
            NewCustomer(
                telegram_id=profile.telegram_id,
                first_name=profile.first_name,
                last_name=profile.last_name,
                username=profile.username,
                language=language_from_telegram(profile.language_code).value,
                at=now,
            )
        )
        await uow.wallets.open(row.id, CNY)
        await uow.points.open(row.id)
        return row

    async def _begin_turn(self, profile: TelegramProfile, chat_id: int) -> Turn:
        now = self._clock()
        async with self._uow() as uow:
            row = await uow.customers.by_telegram_id(profile.telegram_id)
            is_new = row is None
            changed = is_new
            if row is None:
                row = await self._register(uow, profile, now)
            elif (row.first_name, row.last_name, row.username) != (
                profile.first_name,
                profile.last_name,
                profile.username,
            ):
                await uow.customers.rename(
                    row.id, profile.first_name, profile.last_name, profile.username, now
                )
                row = replace(
                    row,
                    first_name=profile.first_name,
                    last_name=profile.last_name,
                    username=profile.username,
                    last_seen_at=now,
                )
                changed = True
            conversation = await uow.conversations.find(chat_id, profile.telegram_id)
            state = (
                ConversationState(step=conversation.step, data=dict(conversation.data))
                if conversation is not None
                else ConversationState()
            )
            customer = _customer(row, is_new=is_new)
            consented = not is_new and await uow.consents.accepted(row.id)
            pin_set = not is_new and await uow.pins.get(row.id) is not None
            if changed:
                await uow.commit()
            return Turn(customer=customer, state=state, consented=consented, pin_set=pin_set)

    async def get(self, customer_id: int) -> Customer:
        async with self._uow.read() as uow:
            return _customer(await self._row(uow, customer_id))

    async def languages(self, customer_ids: Iterable[int]) -> dict[int, Language]:
        """The language of each of these customers, in one read; an erased customer (nobody
        to tell any more) is left out. No customer asked for, nothing read."""
        wanted = set(customer_ids)
        if not wanted:
            return {}
        async with self._uow.read() as uow:
            found = await uow.customers.languages(wanted)
        return {customer_id: Language(language) for customer_id, language in found.items()}

    async def set_language(self, customer_id: int, language: Language) -> Customer:
        async with self._uow() as uow:
            row = await self._row(uow, customer_id)
            await uow.customers.set_language(customer_id, language.value)
            await uow.commit()
            return _customer(replace(row, language=language.value))

    async def phones(self, customer_id: int) -> list[BoundPhone]:
        async with self._uow.read() as uow:
            return [_bound_phone(row) for row in await uow.phones.of_customer(customer_id)]

    async def bind_phone(
        self, customer_id: int, number: PhoneNumber, *, verified: bool = False
    ) -> BoundPhone:
        """Bind a validated number: `verified` when shared as the customer's own Telegram
        contact, else typed (unverified). Binding the same number twice is refused; sharing
        as a contact a number typed before marks it verified. A customer who is not there or
        was erased binds nothing (`CustomerNotFound`): the binding's own write checks it."""
        async with self._uow() as uow:
            bound = await uow.phones.of_customer(customer_id)
            if any(row.digits == number.digits for row in bound):
                if verified:
                    await uow.phones.mark_verified(customer_id, number.digits)
                    await uow.commit()
                raise PhoneAlreadyBound(number.digits)
            if len(bound) >= MAX_BOUND_PHONES:
                raise TooManyPhones(number.digits)
            try:
                row = await uow.phones.bind(
                    customer_id,
                    number.digits,
                    number.carrier.value,
                    self._clock(),
                    verified=verified,
                )
                if row is None:  # not there, or erased: nothing was kept
                    raise CustomerNotFound(customer_id)
                await uow.commit()
            except RecordConflict as error:
                raise PhoneAlreadyBound(number.digits) from error
            return _bound_phone(row)

    async def unbind_phone(self, customer_id: int, binding_id: int) -> bool:
        """Remove one of the customer's own numbers; another customer's id removes nothing."""
        async with self._uow() as uow:
            removed = await uow.phones.remove(customer_id, binding_id)
            await uow.commit()
            return removed

    async def erase_personal_data(self, customer_id: int) -> None:
        """Erase names, numbers, conversations, every chat id of theirs (orders, reminders,
        tickets) and what they wrote to support (tickets keep their states and times for the
        support figures); the anonymised row stays for financial records.

        The next /start from the same Telegram account registers a new, empty customer.
        """
        async with self._uow() as uow:
            await erase_customer(uow, await self._row(uow, customer_id), self._clock())
            await uow.commit()

    @staticmethod
    async def _row(uow: UnitOfWork, customer_id: int) -> CustomerRecord:
        row = await uow.customers.get(customer_id)
        if row is None or row.erased_at is not None:
            raise CustomerNotFound(customer_id)
        return row


class ConversationService:
    """Keeps where each customer is in the conversation, so a restart continues every chat."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock = utc_now) -> None:
        self._uow = uow
        self._clock = clock

    async def save(self, chat_id: int, telegram_id: int, state: ConversationState) -> None:
        """One statement: insert the chat's state or replace it (the last turn wins)."""
        async with self._uow.single_statement() as uow:
            await uow.conversations.upsert(
                chat_id, telegram_id, state.step, dict(state.data), self._clock()
            )
            await uow.commit()

    async def reset_abandoned(self, idle_for_seconds: float) -> int:
        """Put half-finished conversations untouched for a while back at the menu."""
        cutoff = self._clock() - timedelta(seconds=idle_for_seconds)
        async with self._uow() as uow:
            count = await uow.conversations.reset_idle_since(cutoff, IDLE)
            await uow.commit()
            return count
