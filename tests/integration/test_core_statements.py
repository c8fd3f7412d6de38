"""Core statements on the unit of work's connection, inside its one transaction."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta, timezone
from typing import cast

import pytest
from sqlalchemy import Table, bindparam, event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.allowances import UNLIMITED
from domain.errors import RecordConflict
from domain.persistence.database import create_engine
from domain.persistence.ledgers import earn_points_once
from domain.persistence.tables import (
    CampaignRow,
    CustomerRow,
    OfferRow,
    OrderEventRow,
    OrderRow,
    PaymentRow,
    WalletEntryRow,
    WalletRow,
)
from domain.persistence.unit_of_work import UnitOfWork, UnitOfWorkFactory
from domain.repositories import (
    Cashback,
    Grant,
    NewOrder,
    NewPayment,
    OrderRecord,
    PointsEarning,
    SlotClaim,
)

NOW = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
ORDERS = cast(Table, OrderRow.__table__)
ORDER_EVENTS = cast(Table, OrderEventRow.__table__)
PAYMENTS = cast(Table, PaymentRow.__table__)


async def order_of(work: UnitOfWork, order_id: int) -> OrderRecord:
    """The order's row, which the test has created."""
    row = await work.orders.get(order_id)
    assert row is not None
    return row


async def a_customer(uow: UnitOfWorkFactory, telegram_id: int = 7, *, points: bool = True) -> int:
    """A registered customer with a wallet and (unless `points` is False) a points balance."""
    async with uow() as work:
        row = CustomerRow(
            telegram_id=telegram_id, language="zh", registered_at=NOW, last_seen_at=NOW
        )
        work.customers.add(row)
        await work.customers.flush()
        await work.wallets.open(row.id, "CNY")
        if points:
            await work.points.open(row.id)
        await work.commit()
        return row.id


def an_order(customer_id: int, **values: object) -> NewOrder:
    fields: dict[str, object] = {
        "customer_id": customer_id,
        "purpose": "recharge",
        "status": "created",
        "amount_fen": 3000,
        "currency": "CNY",
        "created_at": NOW,
        "expires_at": NOW + timedelta(minutes=15),
    }
    fields.update(values)
    return NewOrder(**fields)  # type: ignore[arg-type]


async def test_what_core_writes_the_session_reads_alike_and_back(
    engine: AsyncEngine,
) -> None:
    """Times in UTC, JSON, flags and column defaults round-trip between the two paths."""
    uow = UnitOfWorkFactory.of(engine)
    customer_id = await a_customer(uow)
    beijing = timezone(timedelta(hours=8))
    async with uow() as work:
        order_id = (
            await work.orders.add(
                an_order(customer_id, created_at=NOW.astimezone(beijing), quote={"points": 30}),
                "customer",
                UNLIMITED,
            )
        ).id
        await work.commit()
    async with uow() as work:
        row = await work.session.get(OrderRow, order_id)
        assert row is not None
        assert row.created_at == NOW and row.created_at.tzinfo is not None
        assert row.quote == {"points": 30}
        assert row.product_name_zh == "" and row.outcome_notified is False  # defaults
        row.quote = {"points": 31}
        await work.commit()
    async with uow.read() as work:
        read = await work.orders.get(order_id)
    assert read is not None
    assert read.created_at == NOW and read.created_at.utcoffset() == timedelta(0)
    assert read.quote == {"points": 31}
    assert read.outcome_notified is False


async def test_core_and_session_share_one_transaction_in_either_order(
    engine: AsyncEngine,
) -> None:
    uow = UnitOfWorkFactory.of(engine)
    customer_id = await a_customer(uow)
    # Driver first, then the session: neither is kept without a commit.
    async with uow() as work:
        await work.wallets.post(customer_id, 500, "CNY", "topup", "k1", NOW)
        work.session.add(
            CustomerRow(telegram_id=99, language="en", registered_at=NOW, last_seen_at=NOW)
        )
        await work.session.flush()
    # Session first, then the driver: both kept by one commit.
    async with uow() as work:
        work.session.add(
            CustomerRow(telegram_id=98, language="en", registered_at=NOW, last_seen_at=NOW)
        )
        await work.session.flush()
        assert await work.wallets.post(customer_id, 700, "CNY", "topup", "k2", NOW)
        await work.commit()
    async with uow.read() as work:
        assert await work.wallets.balance(customer_id) == 700
        telegram_ids = set((await work.session.scalars(select(CustomerRow.telegram_id))).all())
    assert telegram_ids == {7, 98}
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_broken_unique_key_is_an_integrity_error_and_nothing_is_kept(
    engine: AsyncEngine,
) -> None:
    uow = UnitOfWorkFactory.of(engine)
    customer_id = await a_customer(uow)
    async with uow() as work:
        assert await work.wallets.post(customer_id, 500, "CNY", "topup", "same", NOW)
        await work.commit()
    async with uow() as work:
        with pytest.raises(RecordConflict):
            await work.wallets.post(customer_id, 500, "CNY", "topup", "same", NOW)
    async with uow.read() as work:
        assert await work.wallets.balance(customer_id) == 500
        assert await work.wallets.ledger_sum(customer_id) == 500
        entries = await work.session.scalar(select(func.count()).select_from(WalletEntryRow))
    assert entries == 1


async def test_a_balance_never_goes_below_zero(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory.of(engine)
    customer_id = await a_customer(uow)
    async with uow() as work:
        assert not await work.wallets.post(customer_id, -1, "CNY", "payment", "p1", NOW)
        await work.commit()
    async with uow.read() as work:
        balance = await work.session.scalar(
            select(WalletRow.balance_fen).where(WalletRow.customer_id == customer_id)
        )
        assert balance == 0
        assert not await work.wallets.has_entry("p1")


async def test_an_order_moves_once_and_each_move_is_recorded(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory.of(engine)
    customer_id = await a_customer(uow)
    async with uow() as work:
        order_id = (await work.orders.add(an_order(customer_id), "customer", UNLIMITED)).id
        moved = await work.orders.move(
            order_id, ["created"], "awaiting_payment", "pay", NOW, payment_method="sandbox"
        )
        assert moved is not None
        assert (moved.status, moved.payment_method) == ("awaiting_payment", "sandbox")
        assert await work.orders.move(order_id, ["created"], "expired", "late", NOW) is None
        kept = await work.orders.move(
            order_id, ["awaiting_payment"], "awaiting_payment", "coupon", NOW, amount_fen=2500
        )
        assert kept is not None and kept.amount_fen == 2500
        await work.commit()
    async with uow.read() as work:
        events = await work.orders.events(order_id)
    assert [(e.from_status, e.to_status, e.cause) for e in events] == [
        (None, "created", "customer"),
        ("created", "awaiting_payment", "pay"),
        ("awaiting_payment", "awaiting_payment", "coupon"),
    ]


async def test_a_new_order_that_breaks_a_key_leaves_neither_order_nor_history(
    engine: AsyncEngine,
) -> None:
    uow = UnitOfWorkFactory.of(engine)
    customer_id = await a_customer(uow)
    async with uow() as work:
        with pytest.raises(RecordConflict):
            await work.orders.add(
                an_order(customer_id + 1000), "customer", UNLIMITED
            )  # no such customer
    async with uow.read() as work:
        driver = await work.core()
        orders = await driver.value(select(func.count()).select_from(ORDERS))
        events = await driver.value(select(func.count()).select_from(ORDER_EVENTS))
    assert (orders, events) == (0, 0)


async def test_a_statement_with_an_expanding_list_reads_each_value(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory.of(engine)
    customer_id = await a_customer(uow)
    async with uow() as work:
        for status in ("paid", "created", "expired"):
            await work.orders.add(an_order(customer_id, status=status), "test", UNLIMITED)
        await work.commit()
    statement = select(ORDERS.c.status).where(
        ORDERS.c.status.in_(bindparam("wanted", expanding=True))
    )
    async with uow.read() as work:
        rows = await (await work.core()).rows(statement, wanted=["paid", "created"])
    assert sorted(row.status for row in rows) == ["created", "paid"]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_connection_the_server_dropped_fails_once_then_is_replaced(
    engine: AsyncEngine,
) -> None:
    uow = UnitOfWorkFactory.of(engine)
    customer_id = await a_customer(uow)
    pid = select(func.pg_backend_pid())
    for unit_of_work in (uow, uow.read):  # found broken at BEGIN, or at the statement
        async with unit_of_work() as work:
            victim = await (await work.core()).value(pid)
        await drop_connection(engine, victim)
        with pytest.raises(DBAPIError):
            async with unit_of_work() as work:
                await work.wallets.balance(customer_id)
        async with unit_of_work() as work:
            assert await (await work.core()).value(pid) != victim
            assert await work.wallets.balance(customer_id) == 0
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def drop_connection(engine: AsyncEngine, pid: int) -> None:
    """The server drops a connection (as on a restart), ordered by another client."""
    admin = create_engine(engine.url.render_as_string(hide_password=False))
    try:
        async with admin.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()


async def test_rows_are_read_by_column_name(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory.of(engine)
    customer_id = await a_customer(uow)
    by_customer = (
        select(ORDERS.c.id, ORDERS.c.amount_fen.label("fen"))
        .where(ORDERS.c.customer_id == bindparam("customer_id"))
        .order_by(ORDERS.c.id)
    )
    async with uow() as work:
        first = (
            await work.orders.add(an_order(customer_id, amount_fen=1000), "customer", UNLIMITED)
        ).id
        second = (
            await work.orders.add(an_order(customer_id, amount_fen=2000), "customer", UNLIMITED)
        ).id
        rows = await (await work.core()).rows(by_customer, customer_id=customer_id)
        await work.commit()
    assert [(row.id, row.fen) for row in rows] == [(first, 1000), (second, 2000)]


async def test_more_units_of_work_at_once_than_pooled_connections_all_finish_cleanly(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """A burst beyond the pool's size (PostgreSQL opens and then closes extra connections;
    SQLite queues for its one) finishes every unit of work and logs no error."""
    uow = UnitOfWorkFactory.of(engine)
    customer_id = await a_customer(uow)

    async def read_slowly() -> int:
        async with uow.read() as work:
            balance = await work.wallets.balance(customer_id)
            await asyncio.sleep(0.01)  # hold the connection while others ask for one
            return balance

    async def write_slowly(index: int) -> None:
        async with uow() as work:
            await work.wallets.post(customer_id, 1, "CNY", "topup", f"burst:{index}", NOW)
            await asyncio.sleep(0.01)
            await work.commit()

    with caplog.at_level(logging.ERROR):
        results = await asyncio.gather(
            *(read_slowly() for _ in range(40)), *(write_slowly(i) for i in range(40))
        )
    assert len(results) == 80
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    async with uow.read() as work:
        assert await work.wallets.balance(customer_id) == 40
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_payment_starts_only_on_the_owners_unexpired_order_of_a_paid_purpose(
    engine: AsyncEngine,
) -> None:
    uow = UnitOfWorkFactory.of(engine)
    owner = await a_customer(uow)
    async with uow() as work:
        order_id = (await work.orders.add(an_order(owner), "customer", UNLIMITED)).id
        await work.commit()

    async def start(customer_id: int, purposes: list[str], at: datetime) -> OrderRecord | None:
        async with uow() as work:
            started = await work.orders.start_payment(
                order_id, customer_id, purposes, "sandbox", "pay by sandbox", at
            )
            await work.commit()
            return started

    assert await start(owner + 1, ["recharge"], NOW) is None  # not theirs
    assert await start(owner, ["wallet_topup"], NOW) is None  # the method does not pay it
    assert await start(owner, ["recharge"], NOW + timedelta(minutes=15)) is None  # expired
    started = await start(owner, ["wallet_topup", "recharge"], NOW)
    assert started is not None
    assert (started.status, started.payment_method) == ("awaiting_payment", "sandbox")
    assert await start(owner, ["recharge"], NOW) is None  # once
    async with uow.read() as work:
        events = await work.orders.events(order_id)
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, "created"),
        ("created", "awaiting_payment"),
    ]


async def test_points_are_earned_once_per_key_and_never_without_a_balance(
    engine: AsyncEngine,
) -> None:
    uow = UnitOfWorkFactory.of(engine)
    customer_id = await a_customer(uow)

    async def earn(work: UnitOfWork, owner: int, points: int, key: str) -> bool:
        return await earn_points_once(await work.core(), owner, PointsEarning(points, key), NOW)

    async with uow() as work:
        assert await earn(work, customer_id, 30, "earn:1")
        assert not await earn(work, customer_id, 30, "earn:1")  # a replay
        await work.commit()
    without_balance = await a_customer(uow, telegram_id=8, points=False)
    for owner, points in ((without_balance, 30), (customer_id, -5)):
        async with uow() as work:
            with pytest.raises(ValueError, match="earn"):
                await earn(work, owner, points, f"earn:{owner}:{points}")
    async with uow.read() as work:
        assert await work.points.balance(customer_id) == 30
        assert await work.points.has_entry("earn:1")
        assert not await work.points.has_entry(f"earn:{without_balance}:30")
        assert not await work.points.has_entry(f"earn:{customer_id}:-5")


async def test_a_move_to_paid_keeps_its_payment_for_the_orders_amount_once(
    engine: AsyncEngine,
) -> None:
    uow = UnitOfWorkFactory.of(engine)
    customer_id = await a_customer(uow)
    async with uow() as work:
        first = (
            await work.orders.add(an_order(customer_id, amount_fen=4550), "customer", UNLIMITED)
        ).id
        second = (await work.orders.add(an_order(customer_id), "customer", UNLIMITED)).id
        await work.commit()

    def payment(reference: str) -> NewPayment:
        return NewPayment(method="sandbox", reference=reference, captured_at=NOW)

    async with uow() as work:
        paid = await work.orders.move(first, ["created"], "paid", "pay", NOW, payment=payment("a"))
        assert paid is not None and paid.status == "paid"
        await work.commit()
    async with uow() as work:  # a second payment of the order: refused, nothing kept
        await work.orders.set_values(first, status="created")
        with pytest.raises(RecordConflict):
            await work.orders.move(first, ["created"], "paid", "again", NOW, payment=payment("b"))
    async with uow() as work:  # not moved: no payment either
        assert (
            await work.orders.move(second, ["paid"], "completed", "x", NOW, payment=payment("c"))
            is None
        )
        await work.commit()
    async with uow.read() as work:
        payments = await (await work.core()).rows(select(PAYMENTS).order_by(PAYMENTS.c.id))
        events = await work.orders.events(first)
        status = (await order_of(work, first)).status
    assert [(p.order_id, p.amount_fen, p.currency, p.reference) for p in payments] == [
        (first, 4550, "CNY", "a")
    ]
    assert [e.cause for e in events] == ["customer", "pay"] and status == "paid"


def a_campaign(code: str, starts_at: datetime, ends_at: datetime, priority: int) -> CampaignRow:
    return CampaignRow(
        code=code,
        name_zh=code,
        name_en=code,
        terms_zh="",
        terms_en="",
        starts_at=starts_at,
        ends_at=ends_at,
        timezone="Asia/Shanghai",
        status="active",
        audience="everyone",
        priority=priority,
        loaded_at=NOW,
    )


async def test_live_campaigns_come_with_the_customers_figures_and_use_of_each_offer(
    engine: AsyncEngine,
) -> None:
    uow = UnitOfWorkFactory.of(engine)
    customer_id = await a_customer(uow)
    other = await a_customer(uow, telegram_id=8)
    year_ago = NOW - timedelta(days=365)
    async with uow() as work:
        for owner, fen, status, completed_at in (
            (customer_id, 3000, "completed", NOW - timedelta(days=10)),
            (customer_id, 5000, "completed", NOW - timedelta(days=400)),  # over a year ago
            (customer_id, 9000, "refunded", None),
            (other, 7000, "completed", NOW - timedelta(days=1)),
        ):
            order = an_order(owner, amount_fen=fen, status=status, completed_at=completed_at)
            await work.orders.add(order, "customer", UNLIMITED)
        await work.commit()
    async with uow.read() as work:
        found = await work.campaigns.live_for_customer(NOW, customer_id, year_ago)
    assert (found.campaigns, found.recharge_total, found.completed_recharges) == ([], 3000, 2)

    async with uow() as work:
        low = a_campaign("low", NOW - timedelta(days=1), NOW + timedelta(days=1), 1)
        high = a_campaign("high", NOW - timedelta(days=1), NOW + timedelta(days=1), 9)
        over = a_campaign("over", NOW - timedelta(days=9), NOW - timedelta(days=1), 5)
        work.session.add_all([low, high, over])
        await work.session.flush()
        work.session.add_all(
            [
                OfferRow(campaign_id=high.id, code="double", kind="points_multiplier", quota=9),
                OfferRow(campaign_id=low.id, code="packet", kind="threshold_red_packet"),
            ]
        )
        await work.commit()
    for offer, status in (("double", "held"), ("double", "released")):
        async with uow() as work:
            offer_id = (await work.campaigns.offers_by_code([offer]))[offer].id
            order_id = (await work.orders.add(an_order(customer_id), "customer", UNLIMITED)).id
            assert await work.claims.claim(SlotClaim(offer_id, customer_id), order_id, NOW)
            if status == "released":
                await work.claims.settle((await work.claims.of_order(order_id))[0], status)
            await work.commit()
    async with uow.read() as work:
        mine = await work.campaigns.live_for_customer(NOW, customer_id, year_ago)
        theirs = await work.campaigns.live_for_customer(NOW, other, year_ago)
    assert [
        (c.code, [(o.code, o.used_by_customer) for o in offers]) for c, offers in mine.campaigns
    ] == [
        ("high", [("double", 1)]),  # a released claim is no use
        ("low", [("packet", 0)]),
    ]
    assert [o.used_by_customer for _, offers in theirs.campaigns for o in offers] == [0, 0]
    assert (theirs.recharge_total, theirs.completed_recharges) == (7000, 1)


async def test_a_completed_move_grants_points_cashback_and_slots_once_or_moves_not(
    engine: AsyncEngine,
) -> None:
    uow = UnitOfWorkFactory.of(engine)
    customer_id = await a_customer(uow)
    without_balance = await a_customer(uow, telegram_id=8, points=False)
    async with uow() as work:
        campaign = a_campaign("c", NOW - timedelta(days=1), NOW + timedelta(days=1), 1)
        work.session.add(campaign)
        await work.session.flush()
        work.session.add(OfferRow(campaign_id=campaign.id, code="packet", kind="k", quota=5))
        await work.commit()
    async with uow() as work:
        order = (
            await work.orders.add(an_order(customer_id, status="topping_up"), "c", UNLIMITED)
        ).id
        stranded = (
            await work.orders.add(an_order(without_balance, status="topping_up"), "c", UNLIMITED)
        ).id
        offer_id = (await work.campaigns.offers_by_code(["packet"]))["packet"].id
        assert await work.claims.claim(SlotClaim(offer_id, customer_id, 500), order, NOW)
        await work.commit()
    grant = Grant(
        PointsEarning(30, f"earn:{order}", NOW + timedelta(days=365)),
        Cashback(500, "CNY", f"cashback:{order}"),
        claims=True,
    )
    for _ in range(2):  # the second move finds the order completed: nothing changes
        async with uow() as work:
            await work.orders.move(order, ["topping_up"], "completed", "done", NOW, grant=grant)
            await work.commit()
    async with uow() as work:
        with pytest.raises(ValueError, match="balance"):
            await work.orders.move(
                stranded,
                ["topping_up"],
                "completed",
                "done",
                NOW,
                grant=Grant(PointsEarning(30, f"earn:{stranded}")),
            )
    async with uow.read() as work:
        assert (await order_of(work, order)).status == "completed"
        assert (await order_of(work, stranded)).status == "topping_up"
        assert await work.points.balance(customer_id) == 30
        entry = await work.points.entry(f"earn:{order}")
        assert entry is not None
        assert (entry.points, entry.order_id, entry.expires_at) == (
            30,
            order,
            NOW + timedelta(days=365),
        )
        assert not await work.points.has_entry(f"earn:{stranded}")
        assert await work.wallets.balance(customer_id) == 500
        assert await work.wallets.has_entry(f"cashback:{order}")
        assert [c.status for c in await work.claims.of_order(order)] == ["granted"]
        events = await work.orders.events(order)
    assert [e.to_status for e in events] == ["topping_up", "completed"]


async def test_a_move_takes_its_offers_slots_all_or_moves_not(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory.of(engine)
    customer_id = await a_customer(uow)
    async with uow() as work:
        campaign = a_campaign("c", NOW - timedelta(days=1), NOW + timedelta(days=1), 1)
        work.session.add(campaign)
        await work.session.flush()
        work.session.add_all(
            [
                OfferRow(campaign_id=campaign.id, code="one-left", kind="k", quota=1),
                OfferRow(campaign_id=campaign.id, code="budget", kind="k", budget_fen=5000),
            ]
        )
        await work.commit()
        offers = await work.campaigns.offers_by_code(["one-left", "budget"])
        first = (await work.orders.add(an_order(customer_id, status="paid"), "c", UNLIMITED)).id
        second = (await work.orders.add(an_order(customer_id, status="paid"), "c", UNLIMITED)).id
        await work.commit()
    one_left = SlotClaim(offers["one-left"].id, customer_id)
    budget = SlotClaim(offers["budget"].id, customer_id, cashback_fen=1000)

    async def send(order_id: int, *claims: SlotClaim) -> OrderRecord | None:
        async with uow() as work:
            moved = await work.orders.move(
                order_id, ["paid"], "topping_up", "s", NOW, claims=claims
            )
            await work.commit()
            return moved

    assert await send(first, one_left, budget) is not None
    assert await send(second, budget, one_left) is None  # the last slot is gone
    async with uow.read() as work:
        assert (await order_of(work, second)).status == "paid"
        held = await work.claims.of_order(second)  # kept for the transaction that follows
        taken = await work.campaigns.offers_by_code(["one-left", "budget"])
    assert [c.offer_id for c in held] == [budget.offer_id]
    assert [(taken[code].used, taken[code].spent_fen) for code in ("one-left", "budget")] == [
        (1, 0),
        (2, 2000),
    ]
    assert await send(first, budget) is None  # moved already: no slot taken for it
    async with uow.read() as work:
        assert (await work.campaigns.offers_by_code(["budget"]))["budget"].used == 2


async def test_live_campaigns_and_their_offers_are_read_in_one_statement_with_slots_live(
    engine: AsyncEngine,
) -> None:
    uow = UnitOfWorkFactory.of(engine)
    customer_id = await a_customer(uow)
    async with uow() as work:
        low = a_campaign("low", NOW - timedelta(days=1), NOW + timedelta(days=1), 1)
        high = a_campaign("high", NOW - timedelta(days=1), NOW + timedelta(days=1), 9)
        bare = a_campaign("bare", NOW - timedelta(days=1), NOW + timedelta(days=1), 5)
        over = a_campaign("over", NOW - timedelta(days=9), NOW - timedelta(days=1), 5)
        work.session.add_all([low, high, bare, over])
        await work.session.flush()
        work.session.add_all(
            [
                OfferRow(campaign_id=high.id, code="double", kind="points_multiplier", quota=9),
                OfferRow(campaign_id=low.id, code="packet", kind="threshold_red_packet"),
                OfferRow(campaign_id=over.id, code="gone", kind="threshold_red_packet"),
                OfferRow(campaign_id=high.id, code="triple", kind="points_multiplier", quota=3),
            ]
        )
        await work.commit()
    async with uow() as work:
        offer_id = (await work.campaigns.offers_by_code(["double"]))["double"].id
        order_id = (await work.orders.add(an_order(customer_id), "customer", UNLIMITED)).id
        assert await work.claims.claim(SlotClaim(offer_id, customer_id), order_id, NOW)
        await work.commit()
    sent: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(statement)

    async with uow.read() as work:
        await work.core()  # the connection first: only the read is counted
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        try:
            live = await work.campaigns.live(NOW)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert [
        (c.code, [(o.code, o.quota, o.used, o.campaign_id == c.id) for o in offers])
        for c, offers in live
    ] == [
        ("high", [("double", 9, 1, True), ("triple", 3, 0, True)]),  # the slot taken, at once
        ("bare", []),
        ("low", [("packet", None, 0, True)]),
    ]
    assert len(sent) == 1
