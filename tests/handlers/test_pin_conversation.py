"""The payment PIN as customers live it: set with /pin (each message holding it deleted, the
digits never kept), asked before recharging a typed number or redeeming above the thresholds,
five wrong tries locking it with the customer alerted and the lock in the audit trail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import count

import pytest
from sqlalchemy import text

from bot.assembly import App, build_app
from bot.cli import demo_campaigns
from domain.audit import AuditAction
from domain.orders import CHINA
from domain.pin import PinOutcome
from handlers.contract import Outcome, contact_event, message_event
from tests.conftest import make_settings
from tests.handlers.chat import Chat

NUMBER = "18612345678"
MESSAGE_IDS = count(500)


@pytest.fixture
async def shop(sqlite_url: str) -> AsyncIterator[App]:
    settings = make_settings(
        sqlite_url,
        demo_mode=True,
        sandbox_topup_delay_seconds=0,
        pin_unverified_threshold_fen=5_000,
        pin_redeem_threshold_points=100,
        pin_reset_delay_minutes=0,
    )
    app = await build_app(settings)
    try:
        yield app
    finally:
        await app.close()


async def typed(chat: Chat, message: str) -> Outcome:
    """A typed message with its message id, as Telegram gives it (so it can be deleted)."""
    event = message_event(chat.user, chat.chat_id, message, message_id=next(MESSAGE_IDS))
    outcome = await chat.handle(event)
    assert event.message_id is not None
    return outcome


async def set_pin(chat: Chat, pin: str = "246810") -> None:
    await chat.send("/pin")
    assert chat.texts[0].startswith("🔐 请设置新的 6 位数字支付密码")
    await typed(chat, pin)
    assert chat.texts[0] == "🔐 请再输入一次新的支付密码以确认："
    assert len(chat.last.delete_messages) == 1
    await typed(chat, pin)
    assert chat.texts[0].startswith("✅ 支付密码已设置")
    assert len(chat.last.delete_messages) == 1


async def order_to_typed_number(chat: Chat, product: str = "100元") -> None:
    await chat.send("/recharge")
    await chat.send(NUMBER)
    await chat.press(product)
    assert chat.texts[0].startswith("请确认订单")


async def test_a_pin_is_set_and_only_its_salted_hash_is_kept(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await chat.send("/start")
    await typed(chat, "/pin")
    await typed(chat, "12345")
    assert chat.texts[0] == "支付密码须为 6 位数字，请重新输入："
    await typed(chat, "135790")
    await typed(chat, "135791")
    assert chat.texts[0].startswith("两次输入的密码不一致")
    await set_pin(chat)
    async with shop.engine.connect() as connection:
        stored = (await connection.execute(text("SELECT pin_hash FROM customer_pins"))).all()
        states = (await connection.execute(text("SELECT data FROM conversations"))).all()
    [(pin_hash,)] = stored
    assert pin_hash.startswith("scrypt$") and "246810" not in pin_hash
    assert all("246810" not in str(row) and "135790" not in str(row) for row in states)

    # Changing it asks the current one first.
    await chat.send("/pin")
    assert chat.texts[0].startswith("🔐 请输入当前的 6 位支付密码")
    await typed(chat, "000000")
    assert chat.texts[0] == "❌ 支付密码错误，还可以再试 4 次。请重新输入："
    await typed(chat, "246810")
    assert chat.texts[0].startswith("🔐 请设置新的 6 位数字支付密码")


async def test_recharging_a_typed_number_asks_the_pin_and_a_shared_contact_does_not(
    shop: App,
) -> None:
    chat = Chat.of(shop.conversation)
    await chat.send("/start")
    await order_to_typed_number(chat)
    await chat.press("模拟支付")  # no PIN set yet: paid at once
    assert chat.texts[0].startswith("✅ 充值成功")

    await set_pin(chat)
    await order_to_typed_number(chat, "30元")  # below the threshold
    await chat.press("模拟支付")
    assert chat.texts[0].startswith("✅ 充值成功")

    await order_to_typed_number(chat)
    await chat.press("模拟支付")
    assert chat.texts[0].startswith("🔐 请输入 6 位支付密码")
    await typed(chat, "111111")
    assert chat.texts[0] == "❌ 支付密码错误，还可以再试 4 次。请重新输入："
    await typed(chat, "246810")
    assert chat.last.delete_messages
    assert chat.texts[0].startswith("✅ 充值成功")

    # Bound by typing it: still unverified, the PIN is asked.
    await chat.send(f"/bind {NUMBER}")
    assert chat.texts[0] == "绑定成功：186****5678（中国联通）"
    await order_to_bound_number(chat)
    await chat.press("模拟支付")
    assert chat.texts[0].startswith("🔐 请输入 6 位支付密码")
    # Shared as the customer's own contact: verified, no PIN for it.
    await chat.send("/bind")
    await chat.share_contact(f"+86{NUMBER}")
    assert chat.texts[0] == "号码 186****5678 已经绑定过了。"
    await order_to_bound_number(chat)
    await chat.press("模拟支付")
    assert chat.texts[0].startswith("✅ 充值成功")


async def order_to_bound_number(chat: Chat) -> None:
    await chat.send("/recharge")
    await chat.press("100元")


async def test_five_wrong_pins_lock_and_alert(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await chat.send("/start")
    await set_pin(chat)
    await order_to_typed_number(chat)
    await chat.press("模拟支付")
    for left in (4, 3, 2, 1):
        await typed(chat, "999999")
        assert chat.texts[0] == f"❌ 支付密码错误，还可以再试 {left} 次。请重新输入："
    await typed(chat, "999999")
    assert chat.texts[0].startswith("🔒 支付密码连续输错次数过多，需要密码的操作已锁定至")
    assert "/feedback" in chat.texts[0]
    # Locked: even the right PIN does not pay now.
    await chat.press_data(_pay_button(shop))
    await typed(chat, "246810")
    assert chat.texts[0].startswith("🔒 需要支付密码的操作已锁定至")
    [locked] = [
        r for r in await shop.services.audit.recent() if r.entry.action is AuditAction.PIN_LOCKED
    ]
    assert locked.entry.subject == "customer:1"


def _pay_button(shop: App) -> str:
    from domain.orders import PaymentMethod
    from handlers.features.recharge import PayOrder

    return PayOrder(1, PaymentMethod.SANDBOX).pack()


async def test_redeeming_above_the_threshold_asks_the_pin(sqlite_url: str) -> None:
    from datetime import UTC, datetime

    settings = make_settings(
        sqlite_url, demo_mode=True, sandbox_topup_delay_seconds=0, pin_redeem_threshold_points=1
    )
    app = await build_app(settings)
    try:
        await app.services.campaigns.load(demo_campaigns(datetime.now(UTC)))
        chat = Chat.of(app.conversation)
        await chat.send("/start")
        await order_to_typed_number(chat, "300元")
        await chat.press("模拟支付")
        await set_pin(chat)
        await chat.send("/points")
        await chat.press("积分兑换")
        await chat.press("5元充值抵用券")
        await chat.press("确认兑换")
        assert chat.texts[0].startswith("🔐 请输入 6 位支付密码")
        await typed(chat, "246810")
        assert "兑换成功" in chat.text
    finally:
        await app.close()


async def test_erasing_the_customer_s_data_removes_the_pin(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await chat.send("/start")
    await set_pin(chat)
    await shop.services.customers.erase_personal_data(1)
    async with shop.engine.connect() as connection:
        left = (await connection.execute(text("SELECT count(*) FROM customer_pins"))).scalar()
    assert left == 0


async def _lock(chat: Chat) -> None:
    await chat.send("/pin")
    for _ in range(5):
        await typed(chat, "999999")
    assert chat.texts[0].startswith("🔒 支付密码连续输错次数过多")


async def test_a_forgotten_pin_is_reset_by_sharing_the_verified_contact(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await chat.send("/start")
    await chat.send("/bind")
    await chat.share_contact(f"+86{NUMBER}")  # a verified number of the account
    await set_pin(chat)
    await _lock(chat)
    await chat.press("忘记支付密码？")
    assert chat.texts[0].startswith("🔐 重设支付密码")
    assert chat.last.replies[0].keyboard is not None
    # A typed number is not a verification; someone else's contact neither.
    await chat.send(NUMBER)
    assert chat.texts[0].startswith("请点“分享我的联系人以验证”按钮")
    other = contact_event(chat.user, chat.chat_id, f"+86{NUMBER}", contact_user_id=999)
    await chat.handle(other)
    assert chat.texts[0].startswith("❌ 无法验证") and "/feedback" in chat.texts[1]
    await chat.send("/pin")
    assert chat.texts[0].startswith("🔐 请输入当前的 6 位支付密码")
    await typed(chat, "246810")
    assert chat.texts[0].startswith("🔒 需要支付密码的操作已锁定至")  # still locked
    await chat.press("忘记支付密码？")
    await chat.share_contact(f"+86{NUMBER}")
    assert chat.texts[0] == "✅ 验证成功。" and chat.texts[1].startswith("🔐 请设置新的 6 位")
    await typed(chat, "135790")
    assert len(chat.last.delete_messages) == 1
    await typed(chat, "135790")
    assert len(chat.last.delete_messages) == 1
    assert chat.texts[0].startswith("✅ 支付密码已重设")
    # The lock went with the old PIN: the new one is right, the old one wrong.
    assert (await shop.services.pins.check(1, "135790")).ok
    assert not (await shop.services.pins.check(1, "246810")).ok
    actions = [r.entry.action for r in await shop.services.audit.recent()]
    assert actions.count(AuditAction.PIN_RESET) == 1


async def test_a_pin_cannot_be_reset_with_an_unverified_number(shop: App) -> None:
    chat = Chat.of(shop.conversation)
    await chat.send("/start")
    await chat.send(f"/bind {NUMBER}")  # typed: not verified
    await set_pin(chat)
    await chat.send("/pin")
    await chat.press("忘记支付密码？")
    await chat.share_contact(f"+86{NUMBER}")
    assert chat.texts[0].startswith("❌ 无法验证")
    assert not (await shop.services.pins.check(1, "111111")).ok
    assert (await shop.services.pins.check(1, "246810")).ok


async def test_with_a_reset_delay_the_new_pin_waits_and_the_customer_is_told_when(
    sqlite_url: str,
) -> None:
    app = await build_app(make_settings(sqlite_url, demo_mode=True, pin_reset_delay_minutes=60))
    try:
        chat = Chat.of(app.conversation)
        await chat.send("/start")
        await chat.send("/bind")
        await chat.share_contact(f"+86{NUMBER}")
        await set_pin(chat)
        await chat.send("/pin")
        await chat.press("忘记支付密码？")
        await chat.share_contact(f"+86{NUMBER}")
        await typed(chat, "135790")
        await typed(chat, "135790")
        assert chat.texts[0].startswith(
            "✅ 支付密码已重设，原密码已失效。为保护您的账户，新密码将于"
        )
        assert "（北京时间）生效" in chat.texts[0]
        # Until then the operations that need the PIN wait, the new PIN as much as the old.
        check = await app.services.pins.check(1, "135790")
        assert check.outcome is PinOutcome.LOCKED and check.locked_until is not None
        assert f"{check.locked_until.astimezone(CHINA):%Y-%m-%d %H:%M}" in chat.texts[0]
        [entry] = [
            r.entry
            for r in await app.services.audit.recent()
            if r.entry.action is AuditAction.PIN_RESET
        ]
        assert "takes_effect=" in entry.detail
    finally:
        await app.close()
