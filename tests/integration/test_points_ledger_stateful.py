"""The points ledger under any sequence of earns, replays, reversals, redemptions and expiry.

Invariants: the balance equals the sum of the entries and is never negative; each order earns
at most once; a reversal takes back what its order earned (never more than is left); replaying
any event changes nothing.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain.allowances import UNLIMITED
from domain.campaigns import Quote
from domain.customers import TelegramProfile
from domain.money import Money
from domain.persistence.database import create_engine
from domain.persistence.tables import RewardRow
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.repositories import NewOrder
from domain.services.loyalty import (
    LoyaltyConfig,
    LoyaltyService,
    RedeemRefused,
    RewardCatalogue,
    quote_json,
)
from domain.services.registry import build_services
from tests.conftest import migrated_sqlite_template as _migrated_template
from tests.sandbox import sandbox_ports


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class PointsLedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.folder = tempfile.TemporaryDirectory()
        self.clock = Clock()
        database = Path(self.folder.name) / "p.db"
        shutil.copyfile(_migrated_template(), database)
        self.engine = create_engine(f"sqlite+aiosqlite:///{database}")
        self.uow = UnitOfWorkFactory.of(self.engine)
        self.loyalty = LoyaltyService(self.uow, LoyaltyConfig(), self.clock)
        self.rewards = RewardCatalogue(self.uow, self.clock)
        services = build_services(self.uow, self.clock, ports=sandbox_ports())
        turn = self.runner.run(services.customers.begin_turn(TelegramProfile(1), 1))
        self.customer = turn.customer.id
        self.orders: dict[int, int] = {}  # order id -> points it was quoted
        self.earned: dict[int, int] = {}  # order id -> points actually earned
        self.reversed: set[int] = set()
        self.reward_id = self.runner.run(self._reward())

    async def _reward(self) -> int:
        async with self.uow() as uow:
            row = RewardRow(
                code="r",
                kind="coupon",
                name_zh="券",
                name_en="coupon",
                cost_points=30,
                stock=None,
                redeemed=0,
                per_customer=None,
                active=True,
                value_fen=500,
                valid_days=30,
            )
            uow.rewards.add(row)
            await uow.session.flush()
            await uow.commit()
            return row.id

    def teardown(self) -> None:
        self.runner.run(self.engine.dispose())
        self.runner.close()
        self.folder.cleanup()

    async def _new_order(self, points: int) -> int:
        now = self.clock()
        quote = Quote(Money(points * 100), Money(points * 100), Money(0), points, ())
        async with self.uow() as uow:
            row = NewOrder(
                customer_id=self.customer,
                purpose="recharge",
                status="completed",
                amount_fen=points * 100,
                currency="CNY",
                created_at=now,
                expires_at=now,
                quote=quote_json(quote),
            )
            order = await uow.orders.add(row, "customer", UNLIMITED)
            await uow.commit()
            return order.id

    async def _grant(self, order_id: int) -> None:
        async with self.uow() as uow:
            row = await uow.orders.get(order_id)
            assert row is not None
            await self.loyalty.grant(uow, row)
            await uow.commit()

    async def _release(self, order_id: int) -> None:
        async with self.uow() as uow:
            await self.loyalty.release(uow, order_id)
            await uow.commit()

    def balance(self) -> tuple[int, int]:
        return self.runner.run(self.loyalty.balance(self.customer))

    @rule(points=st.integers(1, 500))
    def earn(self, points: int) -> None:
        order_id = self.runner.run(self._new_order(points))
        before = self.balance()[0]
        self.runner.run(self._grant(order_id))
        self.orders[order_id] = points
        self.earned[order_id] = self.balance()[0] - before
        assert self.earned[order_id] == points

    @precondition(lambda self: bool(self.orders))
    @rule(data=st.data())
    def replay_earn(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(sorted(self.orders)))
        before = self.balance()
        self.runner.run(self._grant(order_id))
        assert self.balance() == before

    @precondition(lambda self: bool(self.orders))
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(sorted(self.orders)))
        before = self.balance()[0]
        self.runner.run(self._release(order_id))
        taken = before - self.balance()[0]
        if order_id in self.reversed:
            assert taken == 0  # a replayed reversal changes nothing
        else:
            assert 0 <= taken <= self.earned[order_id]
            assert taken == min(self.earned[order_id], before)
            self.reversed.add(order_id)

    @rule(tap=st.integers(0, 3))
    def redeem(self, tap: int) -> None:
        before = self.balance()[0]
        try:
            self.runner.run(self.rewards.redeem(self.customer, self.reward_id, f"tap-{tap}"))
        except RedeemRefused as refused:
            assert refused.reason == "not_enough_points" and before < 30
            return
        assert before - self.balance()[0] in (0, 30)  # 0: a replay of an earlier tap

    @rule(days=st.integers(1, 400))
    def time_passes_and_points_lapse(self, days: int) -> None:
        self.clock.now += timedelta(days=days)
        before = self.balance()[0]
        lapsed = self.runner.run(self.loyalty.expire_points())
        assert before - self.balance()[0] == lapsed >= 0
        assert self.runner.run(self.loyalty.expire_points()) == 0

    @invariant()
    def balance_is_the_sum_of_the_ledger_and_never_negative(self) -> None:
        balance, ledger = self.balance()
        assert balance == ledger >= 0


PointsLedgerMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=20, deadline=None
)
test_points_ledger = PointsLedgerMachine.TestCase
