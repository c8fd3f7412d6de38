"""Forged button data and invoice payloads on SQLite and PostgreSQL: an id beyond the database's
integer range, negative or malformed, or a code with a NUL, too long or not ASCII, is answered as
any stale button, and nothing changes."""

from __future__ import annotations

import dataclasses
import logging
import typing
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bot.assembly import App, build_app
from domain.money import Money
from domain.persistence.tables import Base
from handlers.buttons import ButtonData, registered
from handlers.contract import Outcome, payment_event, pre_checkout_event
from tests.conftest import make_settings
from tests.handlers.chat import Chat

# Ids no database row can have: one past PostgreSQL's INTEGER, one past SQLite's and every
# 64-bit integer, negative, or not written as plain decimal digits.
FORGED_IDS = [
    "2147483648",
    "99999999999999999",
    "9999999999999999999",
    "-1",
    "-2147483649",
    "+1",
    "01",
    "1e3",
    " 1",
    "٣",
    "",
]


# Codes no campaign can have: a NUL, longer than a code, or not ASCII.
FORGED_CODES = ["\x00", "a" * 49, "双11", "a b"]


def _button_classes() -> list[type[ButtonData]]:
    return [cls for cls in registered() if not cls.prefix.startswith("t-")]


def _forged(cls: type[ButtonData], value: str, kind_forged: type) -> str | None:
    """`cls`'s data with every field of `kind_forged` set to `value` (None when it has none)."""
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if not any(hints[f.name] is kind_forged for f in fields):
        return None
    samples: list[str] = []
    for field in fields:
        kind = hints[field.name]
        if kind is kind_forged:
            samples.append(value)
        elif kind is int:
            samples.append("1")
        elif kind is bool:
            samples.append("1")
        elif kind is str:
            samples.append("x")
        else:
            samples.append(str(next(iter(kind)).value))
    return ":".join([cls.prefix, *samples])


@pytest.fixture
async def shop(database_url: str) -> AsyncIterator[App]:
    settings = make_settings(
        database_url, sandbox_topup_delay_seconds=0, payment_provider_token="PROVIDER-TEST"
    )
    app = await build_app(settings)
    try:
        yield app
    finally:
        await app.close()


async def _row_counts(app: App) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with app.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            count = select(func.count()).select_from(table)
            counts[table.name] = (await connection.execute(count)).scalar_one()
    return counts


def _answer(outcome: Outcome) -> tuple[object, ...]:
    return (outcome.notice, [(r.text, r.buttons, r.edit) for r in outcome.replies])


async def test_forged_button_ids_and_codes_are_answered_as_a_stale_button(
    shop: App, caplog: pytest.LogCaptureFixture
) -> None:
    chat = Chat.of(shop.conversation)
    await chat.send("/start")
    await chat.send("/bind 18612345678")
    stale = _answer(await chat.press_data("gone:1"))
    assert stale[0] == "这个按钮已失效，请从最新菜单中选择。"
    before = await _row_counts(shop)
    caplog.set_level(logging.WARNING)
    pressed = 0
    forged = [(value, int) for value in FORGED_IDS] + [(value, str) for value in FORGED_CODES]
    for cls in _button_classes():
        for value, kind in forged:
            data = _forged(cls, value, kind)
            if data is None:
                continue
            pressed += 1
            assert _answer(await chat.press_data(data)) == stale, data
    assert pressed > 100
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert await _row_counts(shop) == before


async def test_invoice_payloads_out_of_range_name_no_order(
    shop: App, caplog: pytest.LogCaptureFixture
) -> None:
    chat = Chat.of(shop.conversation)
    await chat.send("/start")
    before = await _row_counts(shop)
    caplog.set_level(logging.WARNING)
    values = ("2147483648", "99999999999999999", "9999999999999999999", "-1", "٣")
    for value in values:
        asked = await shop.conversation.handle(
            pre_checkout_event(chat.user, "q1", f"order:{value}", "CNY", 3000)
        )
        assert asked.pre_checkout_error == "没有找到这个订单。", value
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert await _row_counts(shop) == before
    # Money that arrived all the same for no order is never lost: it goes to the wallet, once.
    for value in (*values, values[0]):
        paid = await shop.conversation.handle(
            payment_event(chat.user, chat.chat_id, f"order:{value}", "CNY", 3000, f"tg-{value}")
        )
        assert [r.text for r in paid.replies] == [
            "您的付款 ¥30.00 与所付订单不符，订单未使用这笔付款；款项已全额存入您的钱包余额。"
        ], value
    turn = await shop.services.customers.begin_turn(chat.user, chat.chat_id)
    customer = turn.customer
    assert await shop.services.wallet.balance(customer.id) == Money.yuan(30 * len(values))
