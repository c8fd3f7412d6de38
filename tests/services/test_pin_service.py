"""The payment PIN as a use case, on the fake unit of work: wrong tries lock it for a while
(recorded in the audit trail), and it is asked only where it matters. The conversation around
it is tested on the databases (`tests/handlers/test_pin_conversation.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.audit import AuditAction
from domain.orders import PaymentMethod
from domain.pin import PinOutcome, PinRules
from domain.services.pins import InvalidPin, PinService
from tests.fakes.clock import ManualClock
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory

NOW = datetime(2026, 11, 11, 4, 0, tzinfo=UTC)


def pins(units: FakeUnitOfWorkFactory, clock: ManualClock) -> PinService:
    return PinService(units, PinRules(max_wrong=3, lock=timedelta(minutes=30)), clock)


async def test_wrong_tries_lock_the_pin_for_a_while_and_the_lock_is_audited() -> None:
    units, clock = FakeUnitOfWorkFactory(), ManualClock(NOW)
    me = units.database.add_customer()
    service = pins(units, clock)
    assert (await service.check(me, "123456")).outcome is PinOutcome.NOT_SET
    with pytest.raises(InvalidPin):
        await service.set_pin(me, "12345")
    await service.set_pin(me, "123456")
    assert await service.has_pin(me)
    assert [(await service.check(me, "654321")).tries_left for _ in range(2)] == [2, 1]
    locked = await service.check(me, "000000")
    assert (locked.outcome, locked.just_locked) == (PinOutcome.LOCKED, True)
    assert locked.locked_until == NOW + timedelta(minutes=30)
    assert (await service.check(me, "123456")).outcome is PinOutcome.LOCKED  # even the right one
    clock.advance(minutes=31)
    assert (await service.check(me, "123456")).outcome is PinOutcome.OK
    async with units.read() as uow:
        trail = await uow.audit.recent(10)
    assert [r.entry.action for r in trail] == [AuditAction.PIN_LOCKED, AuditAction.PIN_SET]
    assert trail[0].entry.subject == f"customer:{me}"
    assert "123456" not in str(units.database.tables.pins)  # only the hash is kept


async def test_the_right_pin_forgives_the_wrong_tries_before_it() -> None:
    units, clock = FakeUnitOfWorkFactory(), ManualClock(NOW)
    me = units.database.add_customer()
    service = pins(units, clock)
    await service.set_pin(me, "123456")
    await service.check(me, "000000")
    await service.check(me, "000000")
    assert (await service.check(me, "123456")).outcome is PinOutcome.OK
    assert (await service.check(me, "000000")).tries_left == 2


async def test_the_pin_is_asked_above_the_thresholds_and_not_for_a_verified_number() -> None:
    units, clock = FakeUnitOfWorkFactory(), ManualClock(NOW)
    me, other = units.database.add_customer(), units.database.add_customer()
    small = units.database.add_order(me, "pending", amount_fen=4_000, phone_digits="13900139000")
    typed = units.database.add_order(me, "pending", amount_fen=6_000, phone_digits="13900139000")
    own = units.database.add_order(me, "pending", amount_fen=6_000, phone_digits="13800138000")
    large = units.database.add_order(me, "pending", amount_fen=10_000, phone_digits=None)
    async with units() as uow:
        await uow.phones.bind(me, "13800138000", "china_mobile", NOW, verified=True)
        await uow.commit()
    service = pins(units, clock)
    sandbox = PaymentMethod.SANDBOX
    assert not await service.needed_to_pay(me, typed, sandbox)  # no PIN set: never asked
    await service.set_pin(me, "123456")
    assert not await service.needed_to_pay(me, small, sandbox)
    assert await service.needed_to_pay(me, typed, sandbox)
    assert not await service.needed_to_pay(me, own, sandbox)
    assert not await service.needed_to_pay(me, own, PaymentMethod.WALLET)  # below 10,000
    assert await service.needed_to_pay(me, large, PaymentMethod.WALLET)
    assert not await service.needed_to_pay(other, typed, sandbox)  # not their order
    assert not await service.needed_to_redeem(me, 999)
    assert await service.needed_to_redeem(me, 1_000)


async def test_a_reset_takes_effect_after_the_delay_and_is_audited_with_when() -> None:
    units, clock = FakeUnitOfWorkFactory(), ManualClock(NOW)
    me = units.database.add_customer()
    service = PinService(units, PinRules(reset_delay=timedelta(hours=24)), clock)
    assert await service.set_pin(me, "123456") is None  # set by the customer: at once
    takes_effect = await service.set_pin(me, "654321", reset=True)
    assert takes_effect == NOW + timedelta(hours=24)
    for pin in ("654321", "123456"):  # neither works meanwhile
        check = await service.check(me, pin)
        assert (check.outcome, check.locked_until) == (PinOutcome.LOCKED, takes_effect)
    clock.advance(minutes=24 * 60 - 1)
    assert (await service.check(me, "654321")).outcome is PinOutcome.LOCKED
    clock.advance(minutes=1)
    assert (await service.check(me, "654321")).outcome is PinOutcome.OK
    assert (await service.check(me, "123456")).outcome is PinOutcome.WRONG
    async with units.read() as uow:
        trail = await uow.audit.recent(10)
    [reset] = [r.entry for r in trail if r.entry.action is AuditAction.PIN_RESET]
    assert reset.detail == "verified contact shared takes_effect=2026-11-12T04:00+00:00"
