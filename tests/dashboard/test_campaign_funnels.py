"""The funnel of one campaign, read from the customers' funnel rows that the fold keeps in each
campaign, equals the one worked out from the orders, their claims and payments, however the
claims change after their orders were folded (made, granted, released, forgotten), on SQLite
and PostgreSQL; and so do the rows rebuilt from the orders (as the migration back-fills
them)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.allowances import UNLIMITED
from domain.figures import Period
from domain.persistence.loyalty_repositories import OfferClaimRepository
from domain.persistence.rollup_tables import RollupChangeRow
from domain.persistence.tables import CustomerRow, OfferClaimRow, OfferRow, OrderRow, PaymentRow
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.repositories import Grant, NewPayment, SlotClaim
from domain.repositories.money import RELEASED
from domain.services.dashboard_figures import DashboardFigures
from tests.dashboard.data import add_campaign, add_customer, put, rebuild_rollups
from tests.dashboard.test_rollups import BASE, ORDERS_AT_ONCE, fold_all
from tests.integration.test_core_statements import an_order

STARTERS = 8  # one customer starts every 6 hours from BASE
ONWARDS = slice(3, None)  # ordered, paid, completed, again


async def _direct_funnel(engine: AsyncEngine, period: Period, campaign: int) -> list[int]:
    """Ordered, paid, completed and again of the period's starters in the campaign, from the
    recharge orders that hold or were granted one of its offers."""
    async with engine.connect() as connection:
        cohort = set(
            (
                await connection.execute(
                    select(CustomerRow.id).where(
                        CustomerRow.registered_at >= period.start,
                        CustomerRow.registered_at < period.end,
                    )
                )
            ).scalars()
        )
        taken = set(
            (
                await connection.execute(
                    select(OfferClaimRow.order_id)
                    .join(OfferRow, OfferRow.id == OfferClaimRow.offer_id)
                    .where(
                        OfferRow.campaign_id == campaign,
                        OfferClaimRow.status.in_(("held", "granted")),
                    )
                )
            ).scalars()
        )
        orders = (
            await connection.execute(
                select(OrderRow.id, OrderRow.customer_id, OrderRow.status, PaymentRow.id)
                .outerjoin(PaymentRow, PaymentRow.order_id == OrderRow.id)
                .where(OrderRow.purpose == "recharge")
            )
        ).all()
    per_customer: dict[int, list[int]] = {}
    for order_id, customer_id, status, payment in orders:
        if customer_id in cohort and order_id in taken:
            counts = per_customer.setdefault(customer_id, [0, 0])
            counts[0] += payment is not None
            counts[1] += status == "completed"
    return [
        len(per_customer),
        sum(1 for paid, _ in per_customer.values() if paid),
        sum(1 for _, done in per_customer.values() if done >= 1),
        sum(1 for _, done in per_customer.values() if done >= 2),
    ]


class Orders:
    """An order's life through the orders' and claims' own repositories."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.uow = UnitOfWorkFactory.of(engine)

    async def place(self, customer: int, purpose: str = "recharge") -> int:
        async with self.uow() as unit:
            made = await unit.orders.add(
                an_order(customer, purpose=purpose, created_at=BASE), "t", UNLIMITED
            )
            await unit.commit()
        return made.id

    async def _move(
        self,
        order: int,
        source: str,
        to: str,
        *,
        payment: NewPayment | None = None,
        grant: Grant | None = None,
        claims: list[SlotClaim] | None = None,
    ) -> None:
        completed_at = {"completed_at": BASE} if to == "completed" else {}
        async with self.uow() as unit:
            moved = await unit.orders.move(
                order, [source], to, "t", BASE, payment=payment, grant=grant,
                claims=claims or [], **completed_at,
            )  # fmt: skip
            assert moved is not None
            await unit.commit()

    async def pay(self, order: int) -> None:
        await self._move(
            order, "created", "paid", payment=NewPayment("wallet", None, BASE, None, 3000, "CNY")
        )

    async def send(self, order: int, customer: int, offers: list[int]) -> None:
        """To the carrier, taking a slot of each offer (held)."""
        claims = [SlotClaim(offer, customer) for offer in offers]
        await self._move(order, "paid", "topping_up", claims=claims)

    async def complete(self, order: int) -> None:
        await self._move(order, "topping_up", "completed", grant=Grant(claims=True))

    async def refund(self, order: int) -> None:
        """The carrier failed it: refunded, its slots released."""
        await self._move(order, "topping_up", "failed")
        async with self.uow() as unit:
            claims = OfferClaimRepository(unit)
            for claim in await claims.of_order(order):
                assert await claims.settle(claim, RELEASED)
            moved = await unit.orders.move(order, ["failed"], "refunded", "t", BASE)
            assert moved is not None
            await unit.commit()

    async def forget_claims(self, order: int) -> None:
        """The slots it took given back and its claims forgotten (a round that lost one)."""
        async with self.uow() as unit:
            await OfferClaimRepository(unit).withdraw(order)
            await unit.commit()


async def _folding_while(engine: AsyncEngine, work: Callable[[], Awaitable[object]]) -> None:
    """`work` done while two folds run over and over."""
    figures = DashboardFigures(UnitOfWorkFactory.of(engine))
    working = True

    async def fold_over_and_over() -> None:
        while working:
            await figures.fold()
            await asyncio.sleep(0)

    folding = [asyncio.create_task(fold_over_and_over()) for _ in range(2)]
    try:
        await work()
    finally:
        working = False
        await asyncio.gather(*folding)


async def test_funnels_of_one_campaign_equal_those_of_its_orders_and_claims(
    engine: AsyncEngine,
) -> None:
    """Starters with no order, an unpaid one, orders completed, refunded (their claims
    released), still with the carrier, a claim forgotten, two offers of one campaign taken by
    one order, a wallet top-up taking an offer, orders completed at once while folds run; the
    claims change after their orders' changes were folded: each period's funnel of each
    campaign equals the one worked out from the orders, kept and rebuilt."""
    x = await add_campaign(engine, "x", BASE, BASE + timedelta(days=5))
    y = await add_campaign(engine, "y", BASE, BASE + timedelta(days=5))
    x1, x2, y1 = [
        await put(engine, OfferRow, campaign_id=campaign, code=code, kind="cashback", params={})
        for campaign, code in ((x, "x-1"), (x, "x-2"), (y, "y-1"))
    ]
    orders = Orders(engine)

    async def through(customer: int, offers: list[int], purpose: str = "recharge") -> int:
        order = await orders.place(customer, purpose)
        await orders.pay(order)
        await orders.send(order, customer, offers)
        return order

    async def completed_at_once(customer: int) -> None:
        made = await asyncio.gather(*(through(customer, [x1]) for _ in range(ORDERS_AT_ONCE)))
        await asyncio.gather(*(orders.complete(order) for order in made))

    for n in range(STARTERS):
        customer = await add_customer(engine, 800 + n, BASE + timedelta(hours=6 * n))
        if n == 1:
            await orders.place(customer)  # ordered, never paid, no offer
        elif n == 2:
            order = await through(customer, [x1])
            await fold_all(engine)
            await orders.complete(order)
        elif n == 3:  # in both campaigns until the carrier failed it
            order = await through(customer, [x1, y1])
            await fold_all(engine)
            await orders.refund(order)
        elif n == 4:  # two offers of x on one order; one of y still with the carrier
            await orders.complete(await through(customer, [x1, x2]))
            await fold_all(engine)
            await through(customer, [y1])
        elif n == 5:  # x's slot taken and given back before the order moved on; then x again
            order = await orders.place(customer)
            await orders.pay(order)
            async with orders.uow() as unit:
                assert await OfferClaimRepository(unit).claim(SlotClaim(x1, customer), order, BASE)
                await unit.commit()
            await fold_all(engine)
            await orders.forget_claims(order)
            await orders.send(order, customer, [])
            await orders.complete(order)
            await orders.complete(await through(customer, [x1]))
        elif n == 6:
            await _folding_while(engine, partial(completed_at_once, customer))
        elif n == 7:  # a wallet top-up is no recharge, whatever it took
            await through(customer, [x1, y1], "wallet_topup")
    figures = DashboardFigures(orders.uow)
    whole = Period(BASE, BASE + timedelta(hours=6 * STARTERS))
    # By hand: x was taken by the recharges of customers 2, 4, 5 and 6 (6 completed it more
    # than once), y by customer 4's order still with the carrier.
    expected = {x: [4, 4, 4, 1], y: [1, 1, 0, 0]}
    # Each starter alone, and the starters from each one on and up to each one.
    windows = sorted(
        {(a, a + 1) for a in range(STARTERS)}
        | {(a, STARTERS) for a in range(STARTERS)}
        | {(0, b) for b in range(1, STARTERS)}
    )
    for rebuilt in (False, True):
        if rebuilt:
            await rebuild_rollups(engine)
        for campaign in (x, y):
            steps = [s.customers for s in (await figures.funnel(whole, campaign)).steps]
            assert steps[ONWARDS] == expected[campaign], (campaign, rebuilt)
        for a, b in windows:
            period = Period(BASE + timedelta(hours=6 * a), BASE + timedelta(hours=6 * b))
            for campaign in (x, y):
                steps = [s.customers for s in (await figures.funnel(period, campaign)).steps]
                assert steps[0] == b - a  # started
                direct = await _direct_funnel(engine, period, campaign)
                assert steps[ONWARDS] == direct, (a, b, campaign, rebuilt)
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(RollupChangeRow)) == 0
