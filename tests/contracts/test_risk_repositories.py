"""Risk cases (decided once), numbers' risk counts (taken within a limit) and once-only notices:
the contract held by the fake, SQLite and PostgreSQL alike, races included."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from domain.repositories.money import NewRiskCase
from domain.risk import CaseStatus, RiskAction, RiskRule
from tests.contracts.conftest import NOW, World
from tests.contracts.money import member, recharged

LATER = NOW + timedelta(minutes=5)


def a_case(customer_id: int, action: RiskAction, order_id: int | None = None) -> NewRiskCase:
    return NewRiskCase(
        customer_id=customer_id,
        order_id=order_id,
        rule=RiskRule.ORDERS_PER_HOUR.value,
        action=action.value,
        evidence="6 orders in an hour",
        status=CaseStatus.OPEN.value,
        created_at=NOW,
        alert_sent=False,
        customer_told=True,
    )


async def open_case(world: World, case: NewRiskCase) -> int:
    async with world.money() as uow:
        case_id = await uow.risk.open_case(case)
        await uow.commit()
    return case_id


async def test_a_case_is_kept_and_freezes_only_while_it_should(world: World) -> None:
    me, other = await member(world), await member(world)
    order = await recharged(world, me, 1000, NOW)
    held = await open_case(world, a_case(me, RiskAction.HOLD, order))
    async with world.money.read() as uow:
        read = await uow.risk.get(held)
        assert await uow.risk.get(held + 100) is None
        assert not await uow.risk.frozen(me)
    assert read is not None
    assert (read.customer_id, read.order_id, read.rule, read.action, read.status) == (
        me,
        order,
        RiskRule.ORDERS_PER_HOUR,
        RiskAction.HOLD,
        CaseStatus.OPEN,
    )
    assert (read.evidence, read.created_at, read.decided_by, read.first_approver) == (
        "6 orders in an hour",
        NOW,
        None,
        None,
    )
    frozen = await open_case(world, a_case(other, RiskAction.FREEZE))
    async with world.money() as uow:
        assert await uow.risk.frozen(other)
        assert await uow.risk.decide(frozen, ["open"], "kept_frozen", 7, "Staff", LATER)
        assert await uow.risk.frozen(other)
        assert await uow.risk.decide(frozen, ["kept_frozen"], "released", 7, "Staff", LATER)
        assert not await uow.risk.frozen(other)
        await uow.commit()


async def test_a_decision_and_a_first_approval_are_taken_once(world: World) -> None:
    me = await member(world)
    case = await open_case(world, a_case(me, RiskAction.HOLD))
    async with world.money() as uow:
        assert await uow.risk.approve_first(case, 7, "A" * 200)
        assert not await uow.risk.approve_first(case, 8, "Other")
        await uow.commit()

    async def decide(to_status: str) -> bool:
        async with world.money() as uow:
            done = await uow.risk.decide(case, ["open"], to_status, 8, "Second", LATER)
            await uow.commit()
        return done

    done = await asyncio.gather(decide("released"), decide("refunded"), decide("kept_frozen"))
    assert sum(done) == 1
    async with world.money.read() as uow:
        read = await uow.risk.get(case)
        untold = await uow.risk.untold_decisions(10)
    assert read is not None and read.status.value in {"released", "refunded", "kept_frozen"}
    assert (read.decided_by, read.decided_by_name, read.decided_at) == (8, "Second", LATER)
    assert (read.first_approver, read.first_approver_name) == (7, "A" * 128)
    assert [c.id for c in untold] == [case]  # the customer is to be told of the decision
    async with world.money() as uow:
        assert not await uow.risk.approve_first(case, 9, "Late")  # decided: no approval
        await uow.commit()


async def test_waiting_cases_and_the_flags_of_who_was_told(world: World) -> None:
    me = await member(world)
    first = await open_case(world, a_case(me, RiskAction.HOLD))
    second = await open_case(world, a_case(me, RiskAction.FREEZE))
    third = await open_case(world, a_case(me, RiskAction.HOLD))
    async with world.money() as uow:
        assert await uow.risk.decide(second, ["open"], "kept_frozen", 7, "S", LATER)
        assert await uow.risk.decide(third, ["open"], "refunded", 7, "S", LATER)
        assert await uow.risk.mark(first, "alert_sent", True)
        assert not await uow.risk.mark(first, "alert_sent", True)  # claimed already
        assert await uow.risk.mark(third, "customer_told", True)
        await uow.commit()
    async with world.money.read() as uow:
        assert [c.id for c in await uow.risk.pending(10)] == [first, second]
        assert [c.id for c in await uow.risk.pending(1)] == [first]
        assert [c.id for c in await uow.risk.unsent_alerts(10)] == [second, third]
        assert [c.id for c in await uow.risk.untold_decisions(10)] == [second]
    async with world.money() as uow:
        assert await uow.risk.mark(first, "alert_sent", False)  # released after a failure
        await uow.commit()
    async with world.money.read() as uow:
        assert [c.id for c in await uow.risk.unsent_alerts(1)] == [first]


async def take(world: World, key: str, scope: str, amount: int, limit: int) -> bool:
    async with world.money() as uow:
        taken = await uow.number_allowances.take(key, scope, amount, limit)
        await uow.commit()
    return taken


async def test_a_numbers_count_is_taken_only_within_its_limit(world: World) -> None:
    assert await take(world, "n1", "accounts:day", 2, 3)
    assert not await take(world, "n1", "accounts:day", 2, 3)
    assert await take(world, "n1", "accounts:day", 1, 3)
    assert await take(world, "n1", "accounts:other-day", 3, 3)  # each count its own
    assert await take(world, "n2", "accounts:day", 3, 3)
    taken = await asyncio.gather(*(take(world, "n3", "s", 1, 4) for _ in range(7)))
    assert sum(taken) == 4


async def test_a_notice_is_claimed_once_until_forgotten(world: World) -> None:
    me = await member(world)
    async with world.money() as uow:
        assert await uow.notices.claim("lapse:1", me, NOW)
        assert not await uow.notices.claim("lapse:1", me, NOW)
        await uow.commit()
    async with world.money() as uow:
        assert not await uow.notices.claim("lapse:1", me, LATER)
        assert await uow.notices.claim("lapse:2", me, LATER)
        await uow.notices.forget("lapse:1")
        await uow.commit()
    async with world.money() as uow:
        assert await uow.notices.claim("lapse:1", me, LATER)
        await uow.commit()


async def test_of_claims_of_one_notice_at_once_one_records_it(world: World) -> None:
    me = await member(world)

    async def claim() -> bool:
        """A claim that lost the race is told so, and its unit of work still commits."""
        async with world.money() as uow:
            claimed = await uow.notices.claim("lapse:1", me, NOW)
            await uow.commit()
        return claimed

    claimed = await asyncio.gather(*(claim() for _ in range(5)))
    assert sum(claimed) == 1
