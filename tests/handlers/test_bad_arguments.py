"""Every command that takes an argument, customer's and staff's, given a bad one (missing, not a
number, negative, too long, an unknown id, a staff command from a customer): the answer names
the problem, in Chinese by default and in English, and nothing in the database changes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.assembly import App, build_app
from domain.customers import TelegramProfile
from domain.persistence.tables import Base
from handlers.contract import message_event
from tests.conftest import make_settings
from tests.handlers.chat import Chat

STAFF = 9001
CUSTOMER = 1001
LONG_DIGITS = "9" * 40
LONG_WORD = "x" * 300
# Bookkeeping of every turn (where a chat stands, the updates seen), not data a command changes.
TURN_TABLES = {"conversations", "chat_updates", "customers"}

# (who sends it, what is sent, what the answer must say), in Chinese.
ZH: list[tuple[int, str, str]] = [
    (CUSTOMER, "/bind abc", "手机号只能包含数字"),
    (CUSTOMER, "/bind 123", "11 位数字"),
    (CUSTOMER, f"/bind {LONG_DIGITS}", "11 位数字"),
    (CUSTOMER, "/bind 10012345678", "号段"),
    (CUSTOMER, "/timezone Mars/Olympus", "无法识别时区“Mars/Olympus”"),
    (CUSTOMER, f"/timezone {LONG_WORD}", "无法识别时区"),
    (CUSTOMER, "/start push_abc", "链接无效"),
    (CUSTOMER, "/start push_999999_offers", "链接无效"),
    (CUSTOMER, "/ticket 1", "仅限客服"),
    (CUSTOMER, "/answer 1 退款了", "仅限客服"),
    (CUSTOMER, "/support_stats 7", "仅限客服"),
    (CUSTOMER, "/audit csv", "主管"),
    (STAFF, "/ticket", "/ticket 工单号"),
    (STAFF, "/ticket abc", "「abc」不是工单号"),
    (STAFF, "/ticket -5", "「-5」不是工单号"),
    (STAFF, f"/ticket {LONG_DIGITS}", "不是工单号"),
    (STAFF, "/ticket 999999", "找不到工单 #999999"),
    (STAFF, "/answer", "/answer 工单号 回复内容"),
    (STAFF, "/answer abc 你好", "「abc」不是工单号"),
    (STAFF, "/answer -1 你好", "「-1」不是工单号"),
    (STAFF, "/answer 7", "请在工单号 #7 后写上回复内容"),
    (STAFF, "/answer 999999 你好", "找不到工单 #999999"),
    (STAFF, "/support_stats abc", "「abc」不是天数"),
    (STAFF, "/support_stats -3", "「-3」不是天数"),
    (STAFF, "/support_stats 0", "「0」不是天数"),
    (STAFF, "/support_stats 99999", "1 到 3660"),
    (STAFF, f"/support_stats {LONG_DIGITS}", "不是天数"),
    (STAFF, "/audit xyz", "「xyz」不是 /audit 的选项"),
    (STAFF, f"/audit {LONG_WORD}", "不是 /audit 的选项"),
]
EN: list[tuple[int, str, str]] = [
    (CUSTOMER, "/bind abc", "digits only"),
    (CUSTOMER, "/start push_abc", "not valid"),
    (CUSTOMER, "/ticket 1", "support staff only"),
    (STAFF, "/ticket abc", "“abc” is not a ticket number"),
    (STAFF, "/answer 7", "after the ticket number #7"),
    (STAFF, "/answer 999999 hi", "There is no ticket #999999"),
    (STAFF, "/support_stats -3", "“-3” is not a number of days"),
    (STAFF, "/audit xyz", "“xyz” is not an option of /audit"),
]


@pytest.fixture
async def desk(sqlite_url: str) -> AsyncIterator[App]:
    app = await build_app(make_settings(sqlite_url, demo_mode=True, admin_ids=frozenset({STAFF})))
    try:
        yield app
    finally:
        await app.close()


async def _snapshot(engine: AsyncEngine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table but the turns' own bookkeeping."""
    rows: dict[str, list[tuple[object, ...]]] = {}
    async with engine.connect() as connection:
        for name in sorted(Base.metadata.tables):
            if name in TURN_TABLES:
                continue
            found = await connection.execute(select(text("*")).select_from(table(name)))
            rows[name] = sorted((tuple(row) for row in found), key=repr)
    return rows


async def _walk(app: App, cases: list[tuple[int, str, str]], language: str) -> list[str]:
    people = {
        who: Chat(app.conversation, TelegramProfile(who, "小明", None, None, language))
        for who in (CUSTOMER, STAFF)
    }
    for chat in people.values():
        await chat.send("/start")
    before = await _snapshot(app.engine)
    wrong = []
    for number, (who, sent, said) in enumerate(cases, 1):
        chat = people[who]
        # As Telegram sends it: a message with its id (an answer is mapped to it).
        await chat.handle(message_event(chat.user, chat.chat_id, sent, message_id=number))
        if said not in chat.text:
            wrong.append(f"{sent[:40]!r} answered {chat.text[:120]!r}, not {said!r}")
        await chat.send("/cancel")
    after = await _snapshot(app.engine)
    changed = [name for name in before if before[name] != after[name]]
    return wrong + [f"changed: {name}" for name in changed]


async def test_bad_arguments_are_named_in_chinese_and_change_nothing(desk: App) -> None:
    assert await _walk(desk, ZH, "zh-hans") == []


async def test_bad_arguments_are_named_in_english_and_change_nothing(desk: App) -> None:
    assert await _walk(desk, EN, "en") == []
