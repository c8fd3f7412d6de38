"""/export_my_data: the customer receives their own data, and nobody else's, as a JSON document
in the chat; once every few minutes; frozen accounts too; in the customer's language."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.assembly import App, build_app
from domain.tickets import Category
from tests.conftest import make_settings
from tests.fakes.clock import ManualClock
from tests.handlers.chat import Chat
from tests.integration.test_erasure import recharge

ANN, BOB = 7_770_001_234, 7_770_005_678
ANN_NUMBER, BOB_NUMBER = "18612345678", "13100001111"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 12, 5, 2, 0, tzinfo=UTC))


@pytest.fixture
async def shop(sqlite_url: str, clock: ManualClock) -> AsyncIterator[App]:
    settings = make_settings(sqlite_url, demo_mode=True, sandbox_topup_delay_seconds=0)
    app = await build_app(settings, clock=clock)
    try:
        yield app
    finally:
        await app.close()


async def _customer(shop: App, chat: Chat) -> int:
    return (await shop.services.customers.begin_turn(chat.user, chat.chat_id)).customer.id


async def _export(chat: Chat) -> tuple[bytes, dict[str, Any]]:
    await chat.send("/export_my_data")
    [reply] = chat.replies
    assert reply.document is not None, reply.text
    assert reply.document.mime_type == "application/json"
    assert reply.document.filename.startswith("my-data-")
    assert reply.document.filename.endswith(".json")
    return reply.document.content, json.loads(reply.document.content)


async def test_each_customer_receives_their_own_data_and_nobody_elses(shop: App) -> None:
    ann = Chat.of(shop.conversation, telegram_id=ANN)
    bob = Chat.of(shop.conversation, telegram_id=BOB)
    for chat, number in ((ann, ANN_NUMBER), (bob, BOB_NUMBER)):
        await chat.send("/start")
        await recharge(chat, number)
        me = await _customer(shop, chat)
        await shop.services.support.suggest(me, f"more offers please, {chat.chat_id}")
        await shop.services.support.open_ticket(
            me, chat.chat_id, Category.OTHER, f"where is it? {chat.chat_id}"
        )

    raw, data = await _export(ann)
    assert ann.replies[0].text.startswith("📦 这是您在本服务中的全部个人数据")
    assert data["profile"]["telegram_id"] == ANN
    assert data["phone_numbers"][0]["number"] == {"masked": "186****5678", "full": ANN_NUMBER}
    [order] = data["orders"]
    assert order["number"] == {"masked": "186****5678", "full": ANN_NUMBER}
    assert order["status"] == "completed" and order["amount"] == "¥50.00"
    assert [e["kind"] for e in data["wallet"]["entries"]] == []
    assert data["points"]["balance"] == 50 and data["points"]["entries"][0]["points"] == 50
    [ticket] = data["support"]["tickets"]
    assert ticket["messages"][0] == {
        "from": "you",
        "text": f"where is it? {ANN}",
        "at": ticket["created_at"],
        "at_china": ticket["created_at_china"],
    }
    assert data["support"]["suggestions"][0]["text"] == f"more offers please, {ANN}"
    # Nothing of Bob's: his Telegram id, his number (in any form), his words.
    text = raw.decode("utf-8")
    for bobs in (str(BOB), BOB_NUMBER, "131****1111"):
        assert bobs not in text

    raw, data = await _export(bob)
    assert data["profile"]["telegram_id"] == BOB
    assert data["orders"][0]["number"]["full"] == BOB_NUMBER
    for anns in (str(ANN), ANN_NUMBER, "186****5678"):
        assert anns not in raw.decode("utf-8")


async def test_one_export_every_few_minutes_with_a_clear_message(
    shop: App, clock: ManualClock
) -> None:
    ann = Chat.of(shop.conversation, telegram_id=ANN)
    await ann.send("/start")
    await _export(ann)
    clock.advance(minutes=1)
    await ann.send("/export_my_data")
    [reply] = ann.replies
    assert reply.document is None
    assert (
        reply.text
        == "您刚刚导出过数据。为保护您的数据，导出每隔几分钟才能进行一次，请 4 分钟后再试。"
    )

    await ann.send("/language")
    await ann.press("English")
    await ann.send("/privacy")
    await ann.press("📦 Export my data")
    assert ann.text == (
        "You exported your data just now. To keep it safe, an export can be made once every "
        "few minutes: please try again in 4 minutes."
    )
    clock.advance(minutes=4)
    await _export(ann)
    assert ann.replies[0].text.startswith("📦 Here is all your personal data")
    records = await shop.services.audit.recent(10)
    assert [r.entry.action.value for r in records] == ["data_exported", "data_exported"]


async def test_a_frozen_customer_still_receives_their_data(sqlite_url: str) -> None:
    settings = make_settings(
        sqlite_url,
        demo_mode=True,
        sandbox_topup_delay_seconds=0,
        risk_rules_enabled=True,
        risk_orders_per_hour=1,
        risk_actions="orders_per_hour=freeze",
    )
    app = await build_app(settings)
    try:
        ann = Chat.of(app.conversation, telegram_id=ANN)
        await ann.send("/start")
        await recharge(ann, ANN_NUMBER)
        await ann.send("/recharge")
        await ann.press("50元")  # a second order within the hour: the account is frozen
        assert await app.services.risk.is_frozen(await _customer(app, ann))
        _, data = await _export(ann)
        assert len(data["orders"]) >= 2
    finally:
        await app.close()
