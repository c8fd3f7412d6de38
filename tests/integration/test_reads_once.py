"""What is shown is read once, on SQLite and PostgreSQL.

A customer's turn: the live offers page reads the live campaigns once (their ids come with
them), the denomination grid of the one bound number reads the customer's numbers once, and the
confirmation of a new order reads the order and the live campaigns once for every button it
offers (a coupon code, the customer's own coupon, a bundled pack).

A payment reads the customer's PIN only when they set one (the turn's read says whether); a new
order reads the customer's row for the new-account rule only when its amount is large enough
for that rule, and the risk limits of its quote's campaigns from the quote's own read. The turns
that order and pay, and the receipt, build no ORM session: their statements are Core on the unit
of work's connection.

The order sweep: the orders it carries on and the orders whose customers it tells come with
their batch, and their customers' languages in one read, so its reads do not grow with the
orders it works on. The support relay reads the tickets of the messages it sends with their
batch too. A complaint is one unit of work on Core: the allowance, the ticket and its card."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from bot.assembly import build_app
from domain.campaign_file import parse_campaign_file
from domain.tickets import Category
from handlers.contract import Outcome
from scheduler.jobs import sweep_orders
from scheduler.support import StaffChat, relay_support
from tests.conftest import make_settings
from tests.fakes.clock import ManualClock
from tests.handlers.chat import Chat
from tests.handlers.test_pin_conversation import order_to_bound_number, set_pin
from tests.integration.test_bundles import CAMPAIGN
from tests.integration.test_referrals import Outbox


@contextmanager
def statements_of(engine: AsyncEngine) -> Iterator[list[str]]:
    sent: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)


@contextmanager
def orm_sessions() -> Iterator[list[object]]:
    """The ORM sessions that began a transaction meanwhile (any engine)."""
    began: list[object] = []

    def seen(session: object, *_rest: object) -> None:
        began.append(session)

    event.listen(Session, "after_begin", seen)
    try:
        yield began
    finally:
        event.remove(Session, "after_begin", seen)


def reads_of(sent: list[str], table: str) -> int:
    return sum(statement.startswith(f"SELECT {table}.") for statement in sent)


STAFF_GROUP = -100777


def labels(outcome: Outcome) -> str:
    return " ".join(b.text for row in outcome.replies[-1].buttons for b in row)


async def test_a_first_contact_writes_the_customers_rows_without_an_orm_session(
    database_url: str,
) -> None:
    """The first /start of a campaign's new customers (most of a flash sale's turns): their
    row, wallet and points balance in three inserts on the unit of work's connection."""
    app = await build_app(make_settings(database_url))
    try:
        chat = Chat.of(app.conversation)
        with statements_of(app.engine) as sent, orm_sessions() as sessions:
            welcome = await chat.send("/start")
        assert "欢迎" in welcome.replies[0].text
        inserts = [s.split(" (")[0] for s in sent if s.startswith("INSERT INTO")]
        assert sorted(inserts)[:3] == [
            "INSERT INTO customers",
            "INSERT INTO points_balances",
            "INSERT INTO wallets",
        ]
        assert sessions == []
        customer = (await app.services.customers.begin_turn(chat.user, chat.chat_id)).customer
        assert not customer.is_new  # registered once: the next turn finds them
    finally:
        await app.close()


async def test_the_offers_page_and_an_orders_confirmation_read_each_thing_once(
    database_url: str,
) -> None:
    clock = ManualClock(datetime(2026, 11, 5, 4, 0, tzinfo=UTC))
    app = await build_app(make_settings(database_url, demo_mode=True), clock=clock)
    try:
        await app.services.campaigns.load(parse_campaign_file(CAMPAIGN.format(quota=100)))
        chat = Chat.of(app.conversation)
        await chat.send("/start")
        with statements_of(app.engine) as sent:
            shown = await chat.send("/offers")
        assert "充值节" in shown.replies[-1].text
        assert "提醒" in labels(shown)  # the reminder switches, on the offers' own rows
        assert reads_of(sent, "campaigns") == 1

        with statements_of(app.engine) as sent:
            bound = await chat.send("/bind 18612345678")
        assert "186****5678" in bound.replies[0].text
        assert reads_of(sent, "customers") == 1  # the turn's; the binding checks in its write
        with statements_of(app.engine) as sent:
            grid = await chat.send("/recharge")
        assert "100元" in labels(grid)  # the one bound number's grid, straight away
        assert reads_of(sent, "phone_bindings") == 1
        with statements_of(app.engine) as sent:
            confirmation = await chat.press("100元")
        assert "使用优惠码" in labels(confirmation) and "加购" in labels(confirmation)
        assert reads_of(sent, "orders") == 1
        assert reads_of(sent, "campaigns") == 1
    finally:
        await app.close()


async def test_paying_reads_the_pin_and_the_customer_only_when_they_can_matter(
    database_url: str,
) -> None:
    settings = make_settings(
        database_url,
        demo_mode=True,
        sandbox_topup_delay_seconds=0,
        risk_rules_enabled=True,
        pin_unverified_threshold_fen=5_000,
    )
    clock = ManualClock(datetime(2026, 11, 5, 4, 0, tzinfo=UTC))  # the campaign is live
    app = await build_app(settings, clock=clock)
    try:
        await app.services.campaigns.load(parse_campaign_file(CAMPAIGN.format(quota=100)))
        chat = Chat.of(app.conversation)
        await chat.send("/start")
        await chat.send("/bind 18612345678")
        await chat.send("/recharge")
        with statements_of(app.engine) as sent, orm_sessions() as sessions:
            await chat.press("100元")  # below the new-account rule's ¥300
        assert chat.texts[0].startswith("请确认订单")
        assert "2 倍积分" in chat.texts[0]  # the live campaign's offer is in the quote
        assert reads_of(sent, "customers") == 1  # the turn's own read, nothing more
        assert reads_of(sent, "campaigns") == 1  # the confirmation's; the risk limits: none
        with statements_of(app.engine) as sent, orm_sessions() as more_sessions:
            await chat.press("模拟支付")
        assert chat.texts[0].startswith("✅ 充值成功")  # paid, topped up, the receipt told
        assert reads_of(sent, "customer_pins") == 0  # no PIN set: none read
        assert sessions == [] and more_sessions == []

        await set_pin(chat)
        await order_to_bound_number(chat)  # a typed number, above the PIN's ¥50
        with statements_of(app.engine) as sent:
            await chat.press("模拟支付")
        assert chat.texts[0].startswith("🔐 请输入 6 位支付密码")
        assert reads_of(sent, "customer_pins") == 1
    finally:
        await app.close()


async def test_the_order_sweep_reads_as_much_for_three_receipts_as_for_one(
    database_url: str,
) -> None:
    clock = ManualClock(datetime(2026, 11, 5, 4, 0, tzinfo=UTC))
    settings = make_settings(database_url, demo_mode=True, sandbox_topup_delay_seconds=30)
    app = await build_app(settings, clock=clock)
    try:

        async def topping_up(chat: Chat) -> None:
            await chat.send("/recharge")
            await chat.send("18612345678")
            await chat.press("100元")
            paid = await chat.press("模拟支付")
            assert "✅" not in paid.replies[-1].text  # the carrier answers within 30 s

        async def swept() -> tuple[Outbox, list[str]]:
            clock.now += timedelta(minutes=1)
            outbox = Outbox()
            with statements_of(app.engine) as sent:
                await sweep_orders(app.services, outbox)
            return outbox, sent

        first = Chat.of(app.conversation, telegram_id=9001)
        await topping_up(first)
        outbox, sent_for_one = await swept()
        assert len(outbox.to(first.chat_id)) == 1

        chats = [Chat.of(app.conversation, 9002 + n) for n in range(3)]
        for chat in chats:
            await topping_up(chat)
        await chats[0].send("/language")
        await chats[0].press("English")
        outbox, sent_for_three = await swept()
        receipts = [outbox.to(chat.chat_id) for chat in chats]
        assert [len(r) for r in receipts] == [1, 1, 1]
        assert receipts[0][0].startswith("✅ Recharge completed")  # in each customer's language
        assert receipts[1][0].startswith("✅ 充值成功")
        for table in ("orders", "customers"):
            assert reads_of(sent_for_three, table) == reads_of(sent_for_one, table), table
        assert reads_of(sent_for_one, "customers") == 1
    finally:
        await app.close()


async def test_the_support_relay_reads_as_many_tickets_for_three_cards_as_for_one(
    database_url: str,
) -> None:
    app = await build_app(make_settings(database_url, demo_mode=True))
    try:

        async def complaint(telegram_id: int) -> None:
            chat = Chat.of(app.conversation, telegram_id=telegram_id)
            await chat.send("/start")
            turn = await app.services.customers.begin_turn(chat.user, chat.chat_id)
            await app.services.support.open_ticket(
                turn.customer.id, chat.chat_id, Category.TOPUP_MISSING, "充值未到账"
            )

        async def relayed() -> tuple[Outbox, list[str]]:
            outbox = Outbox()
            with statements_of(app.engine) as sent:
                await relay_support(app.services, outbox, StaffChat(STAFF_GROUP))
            return outbox, sent

        await complaint(9101)
        outbox, sent_for_one = await relayed()
        assert len(outbox.to(STAFF_GROUP)) == 1  # the ticket's card, in the staff chat
        for telegram_id in (9102, 9103, 9104):
            await complaint(telegram_id)
        outbox, sent_for_three = await relayed()
        assert len(outbox.to(STAFF_GROUP)) == 3
        assert reads_of(sent_for_three, "tickets") == reads_of(sent_for_one, "tickets")
    finally:
        await app.close()


async def test_a_complaint_is_one_unit_of_work_without_an_orm_session(
    database_url: str,
) -> None:
    """The customer's allowance, the ticket and its card for the staff chat: Core statements on
    one connection taken once from the pool, so a complaint refused keeps none of them."""
    app = await build_app(make_settings(database_url))
    try:
        chat = Chat.of(app.conversation)
        await chat.send("/start")
        customer = (await app.services.customers.begin_turn(chat.user, chat.chat_id)).customer
        checkouts: list[object] = []

        def checked_out(*args: object) -> None:
            checkouts.append(args)

        event.listen(app.engine.sync_engine.pool, "checkout", checked_out)
        try:
            with statements_of(app.engine) as sent, orm_sessions() as sessions:
                ticket = await app.services.support.open_ticket(
                    customer.id, chat.chat_id, Category.TOPUP_MISSING, "充值没到账"
                )
        finally:
            event.remove(app.engine.sync_engine.pool, "checkout", checked_out)
        assert sessions == []
        assert len(checkouts) == 1
        inserts = [s.split(" (")[0] for s in sent if s.startswith("INSERT INTO")]
        assert sorted(inserts) == [
            "INSERT INTO support_quota",
            "INSERT INTO ticket_messages",
            "INSERT INTO tickets",
        ]
        assert [t.id for t in await app.services.support.tickets_of(customer.id)] == [ticket.id]
    finally:
        await app.close()
