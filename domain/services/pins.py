"""The payment PIN as a use case: set or change it, check it (wrong tries counted, five lock the
operations that need it for a while, recorded in the audit trail), and whether an operation
needs it. Hashing (scrypt, slow on purpose) runs off the event loop."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from domain.audit import ActorKind, AuditAction, AuditEntry
from domain.clock import Clock, utc_now
from domain.orders import PaymentMethod
from domain.pin import PinCheck, PinOutcome, PinRules, hash_pin, pin_matches, valid_pin
from domain.repositories import UnitOfWorkFactory

log = logging.getLogger(__name__)


class InvalidPin(ValueError):
    """Not six digits."""


class PinService:
    def __init__(self, uow: UnitOfWorkFactory, rules: PinRules, clock: Clock = utc_now) -> None:
        self._uow = uow
        self.rules = rules
        self._clock = clock

    async def has_pin(self, customer_id: int) -> bool:
        async with self._uow.read() as uow:
            return await uow.pins.get(customer_id) is not None

    async def seal(self, pin: str) -> str:
        """A new PIN's salted hash, to compare its repetition with (`same`); never the digits."""
        if not valid_pin(pin):
            raise InvalidPin()
        return await asyncio.to_thread(hash_pin, pin)

    async def same(self, pin: str, sealed: str) -> bool:
        return valid_pin(pin) and await asyncio.to_thread(pin_matches, pin, sealed)

    async def set_pin(self, customer_id: int, pin: str, *, reset: bool = False) -> datetime | None:
        """Set (or replace) the customer's PIN; only its salted hash is kept. The wrong tries
        and a lock go with the old one. `reset`: a forgotten PIN replaced after the customer
        shared the contact of a number verified on their account (`may_reset`); with a reset
        delay, the new PIN takes effect only then (returned): until then the operations that
        need the PIN wait, as under a lock, so whoever took the phone cannot use it at once."""
        if not valid_pin(pin):
            raise InvalidPin()
        hashed = await asyncio.to_thread(hash_pin, pin)
        now = self._clock()
        delay = self.rules.reset_delay if reset else timedelta(0)
        takes_effect = now + delay if delay > timedelta(0) else None
        detail = "verified contact shared" if reset else ""
        async with self._uow() as uow:
            await uow.pins.set(customer_id, hashed, now)
            if takes_effect is not None:
                await uow.pins.lock(customer_id, takes_effect)
                detail += f" takes_effect={takes_effect.isoformat(timespec='minutes')}"
            entry = AuditEntry(
                AuditAction.PIN_RESET if reset else AuditAction.PIN_SET,
                ActorKind.CUSTOMER,
                customer_id,
                f"customer:{customer_id}",
                detail,
            )
            await uow.audit.append(entry, now)
            await uow.commit()
        return takes_effect

    async def may_reset(self, customer_id: int, shared_digits: str) -> bool:
        """A forgotten PIN may be replaced without it when the customer shared their own
        Telegram contact and it is a number verified on their account (bound by sharing it)."""
        async with self._uow.read() as uow:
            if await uow.pins.get(customer_id) is None:
                return False
            return await uow.pins.verified_number(customer_id, shared_digits)

    async def check(self, customer_id: int, pin: str) -> PinCheck:
        """Right, wrong (tries left) or locked. The try that makes `max_wrong` wrong ones in a
        row locks the PIN for `lock` and is recorded in the audit trail with the lock."""
        now = self._clock()
        async with self._uow.read() as uow:
            row = await uow.pins.get(customer_id)
        if row is None:
            return PinCheck(PinOutcome.NOT_SET)
        if row.locked_until is not None and row.locked_until > now:
            return PinCheck(PinOutcome.LOCKED, locked_until=row.locked_until)
        right = valid_pin(pin) and await asyncio.to_thread(pin_matches, pin, row.pin_hash)
        async with self._uow() as uow:
            if right:
                await uow.pins.right(customer_id)
                await uow.commit()
                return PinCheck(PinOutcome.OK)
            wrong = await uow.pins.count_wrong(customer_id)
            if wrong < self.rules.max_wrong:
                await uow.commit()
                return PinCheck(PinOutcome.WRONG, tries_left=self.rules.max_wrong - wrong)
            until = now + self.rules.lock
            await uow.pins.lock(customer_id, until)
            entry = AuditEntry(
                AuditAction.PIN_LOCKED,
                ActorKind.SYSTEM,
                0,
                f"customer:{customer_id}",
                f"wrong={wrong} until={until.isoformat(timespec='minutes')}",
            )
            await uow.audit.append(entry, now)
            await uow.commit()
        log.warning("payment PIN of customer %s locked after %s wrong tries", customer_id, wrong)
        return PinCheck(PinOutcome.LOCKED, locked_until=until, just_locked=True)

    async def needed_to_pay(
        self, customer_id: int, order_id: int, method: PaymentMethod, *, pin_set: bool = True
    ) -> bool:
        """With a PIN set: paying from the wallet above its threshold, or recharging a number
        that is not the customer's own verified contact above its threshold. `pin_set=False`
        (the turn read that the customer has none) reads nothing."""
        if not pin_set:
            return False
        async with self._uow.read() as uow:
            if await uow.pins.get(customer_id) is None:
                return False
            order = await uow.orders.get(order_id)
            if order is None or order.customer_id != customer_id:
                return False  # the payment refuses it by itself
            if (
                method is PaymentMethod.WALLET
                and order.amount_fen >= self.rules.wallet_threshold_fen
            ):
                return True
            if order.phone_digits and order.amount_fen >= self.rules.unverified_threshold_fen:
                return not await uow.pins.verified_number(customer_id, order.phone_digits)
        return False

    async def needed_to_redeem(self, customer_id: int, cost_points: int) -> bool:
        if cost_points < self.rules.redeem_threshold_points:
            return False
        return await self.has_pin(customer_id)
