"""The outbound port of both front ends over real HTTP: what became of each message sent.

A sweep or a staff relay needs to know more than "it failed": a blocked customer must not be
tried again, a 429 says when to try again, a 5xx may be retried, and a message sent into a staff
chat is remembered by its message id. Both front ends must say the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import pytest
from aiogram.types import Update as AiogramUpdate
from telegram import Bot as PtbBot
from telegram import Update as PtbUpdate

from bot import aiogram as aiogram_frontend
from bot.ptb.events import event_from_update
from bot.ptb.replies import Sender as PtbSender
from handlers.contract import Delivery, DeliveryStatus, Incoming, MessageEditor, Notifier, Reply
from tests.conftest import make_settings
from tests.fakes.bot_api import FakeBotApi, FakeGroup, FakeUser, JSONDict
from tests.module_search import searched_modules

pytestmark = pytest.mark.timeout(20)

CUSTOMER = FakeUser(id=3001, first_name="王芳", language_code="zh-hans")
STAFF = FakeUser(id=3002, first_name="Support")
STAFF_CHAT = FakeGroup(id=-1003003, title="Support", is_forum=True)


class CardSender(Notifier, MessageEditor, Protocol):
    """What each front end's sender is: it sends and it edits what it sent."""


SenderFactory = Callable[[FakeBotApi, str], AbstractAsyncContextManager[CardSender]]


@asynccontextmanager
async def ptb_sender(api: FakeBotApi, sqlite_url: str) -> AsyncIterator[CardSender]:
    bot = PtbBot(api.token, base_url=f"{api.base_url}/bot")
    async with bot:
        yield PtbSender(bot)


@asynccontextmanager
async def aiogram_sender(api: FakeBotApi, sqlite_url: str) -> AsyncIterator[CardSender]:
    settings = make_settings(sqlite_url, bot_token=api.token, telegram_api_url=api.base_url)
    bot = aiogram_frontend.build_bot(settings)
    try:
        yield aiogram_frontend.Sender(bot)
    finally:
        await bot.session.close()


def ptb_event(update: JSONDict) -> Incoming | None:
    return event_from_update(PtbUpdate.de_json(update, None))


def aiogram_event(update: JSONDict) -> Incoming | None:
    message = AiogramUpdate.model_validate(update).message
    assert message is not None
    return aiogram_frontend.message_to_event(message)


FRONT_ENDS = [
    pytest.param(ptb_sender, ptb_event, id="ptb"),
    pytest.param(aiogram_sender, aiogram_event, id="aiogram"),
]


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        server.add_user(CUSTOMER)
        server.add_user(STAFF)
        server.add_group(STAFF_CHAT, bot_is_admin=True)
        yield server


@pytest.mark.parametrize(("sender", "to_event"), FRONT_ENDS)
async def test_each_failure_says_whether_sending_again_can_help(
    api: FakeBotApi,
    sqlite_url: str,
    sender: SenderFactory,
    to_event: Callable[[JSONDict], Incoming | None],
) -> None:
    async with sender(api, sqlite_url) as notifier:
        sent = await notifier.send(CUSTOMER.id, Reply("双倍积分还剩2小时"))
        [shown] = api.messages_to(CUSTOMER.id)
        assert sent and sent.message_id == shown["message_id"]

        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
        limited = await notifier.send(CUSTOMER.id, Reply("again"))
        assert limited.status is DeliveryStatus.RATE_LIMITED and limited.retry_after == 7

        api.fail_next("sendMessage", 502, "Bad Gateway")
        assert (await notifier.send(CUSTOMER.id, Reply("again"))).status is DeliveryStatus.RETRY

        assert (await notifier.send(987654, Reply("nobody"))).status is DeliveryStatus.REJECTED

        api.block_user(CUSTOMER.id)
        blocked = await notifier.send(CUSTOMER.id, Reply("again"))
        assert blocked.status is DeliveryStatus.BLOCKED and not blocked

    # Only the first message ever reached the customer.
    assert [m["text"] for m in api.messages_to(CUSTOMER.id)] == ["双倍积分还剩2小时"]


@pytest.mark.parametrize(("sender", "to_event"), FRONT_ENDS)
async def test_a_staff_reply_in_a_forum_topic_names_the_message_and_topic_it_answers(
    api: FakeBotApi,
    sqlite_url: str,
    sender: SenderFactory,
    to_event: Callable[[JSONDict], Incoming | None],
) -> None:
    thread_id = api.create_topic(STAFF_CHAT, "工单 #12")
    async with sender(api, sqlite_url) as notifier:
        posted: Delivery = await notifier.send(
            STAFF_CHAT.id, Reply("新工单 #12", thread_id=thread_id)
        )
    assert posted and posted.message_id is not None
    [card] = [m for m in api.messages_to(STAFF_CHAT.id) if m.get("text") == "新工单 #12"]
    assert card["message_thread_id"] == thread_id

    api.send_reply(STAFF, STAFF_CHAT.id, card, "已为您补发，请查收")
    event = to_event(api.updates[-1])
    assert event is not None
    assert event.reply_to_message_id == posted.message_id
    assert event.thread_id == thread_id
    assert event.text == "已为您补发，请查收" and event.chat_type == "supergroup"


@pytest.mark.parametrize(("sender", "to_event"), FRONT_ENDS)
async def test_a_sent_card_is_edited_in_place_and_an_unchanged_one_counts_as_done(
    api: FakeBotApi,
    sqlite_url: str,
    sender: SenderFactory,
    to_event: Callable[[JSONDict], Incoming | None],
) -> None:
    async with sender(api, sqlite_url) as notifier:
        posted = await notifier.send(STAFF_CHAT.id, Reply("工单 #12 · 待处理"))
        assert posted.message_id is not None
        edited = await notifier.edit_message(
            STAFF_CHAT.id, posted.message_id, Reply("工单 #12 · 已解决")
        )
        assert edited and edited.message_id == posted.message_id
        again = await notifier.edit_message(
            STAFF_CHAT.id, posted.message_id, Reply("工单 #12 · 已解决")
        )
        assert again  # "message is not modified": nothing left to do
        api.fail_next("editMessageText", 502, "Bad Gateway")
        failed = await notifier.edit_message(
            STAFF_CHAT.id, posted.message_id, Reply("工单 #12 · 已关闭")
        )
        assert failed.status is DeliveryStatus.RETRY
        missing = await notifier.edit_message(STAFF_CHAT.id, 999999, Reply("工单 #12 · 已关闭"))
        assert missing.status is DeliveryStatus.REJECTED
    [card] = api.messages_to(STAFF_CHAT.id)
    assert card["text"] == "工单 #12 · 已解决"


@pytest.mark.parametrize(("sender", "_event"), FRONT_ENDS)
async def test_a_message_sent_searches_the_import_path_for_nothing(
    api: FakeBotApi, sqlite_url: str, sender: SenderFactory, _event: object
) -> None:
    """Each Bot API call once the first is made imports nothing. python-telegram-bot's HTTP
    client (httpx on httpcore) asks for `sniffio` on every lock it sets up, and a failed import
    is searched for again each time: without `sniffio` installed (nothing else installs it since
    anyio 4.11), that search was a tenth of a worker's CPU under load."""
    async with sender(api, sqlite_url) as notifier:
        await notifier.send(CUSTOMER.id, Reply("first"))
        with searched_modules() as searched:
            for n in range(3):
                assert await notifier.send(CUSTOMER.id, Reply(f"{n}"))
    assert searched == []
