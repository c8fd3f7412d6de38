"""What the aiogram front end does once rather than per update.

Keyboards are built once per distinct keyboard. Filters are coroutines: aiogram runs a plain
function filter (a magic `F` filter too) on a worker thread for every update. And aiogram reads
each Bot API answer as pydantic's `Response[<result type>]`, built on first use and kept by
pydantic only while referenced: the front end keeps the ones it needs, so a garbage collection
under load does not make the next answer build its type again.
"""

from __future__ import annotations

import gc
import weakref

import pytest
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageText,
    GetUpdates,
    SendMessage,
    TelegramMethod,
)
from aiogram.methods.base import Response

from bot.aiogram import build_router, inline_markup, reply_markup
from handlers.contract import Button, ContactKeyboard, RemoveKeyboard, Reply

MENU = (
    (Button("📱 My numbers", "ph"), Button("🌐 Language", "langs")),
    (Button("Open the campaign", url="https://example.com/c"),),
)


def answer_type(method: type[TelegramMethod[object]]) -> type:
    """The type aiogram's session reads an answer to `method` as (inside a function, as it
    does: pydantic then registers it nowhere else)."""
    return Response[method.__returning__]  # type: ignore[name-defined]


@pytest.mark.parametrize("method", [SendMessage, EditMessageText, AnswerCallbackQuery, GetUpdates])
def test_an_answers_type_outlives_a_garbage_collection(
    method: type[TelegramMethod[object]],
) -> None:
    kept = weakref.ref(answer_type(method))
    gc.collect()
    assert kept() is not None


def test_the_same_buttons_are_one_keyboard_with_the_same_content() -> None:
    first, again = inline_markup(MENU), inline_markup(MENU)
    assert first is again
    assert first is not None
    assert [[button.text for button in row] for row in first.inline_keyboard] == [
        ["📱 My numbers", "🌐 Language"],
        ["Open the campaign"],
    ]
    assert first.inline_keyboard[0][0].callback_data == "ph"
    assert first.inline_keyboard[1][0].url == "https://example.com/c"
    assert inline_markup(()) is None


def test_reply_keyboards() -> None:
    share = reply_markup(Reply("Share", keyboard=ContactKeyboard("📱 Share")))
    assert share is not None
    assert share.model_dump(exclude_none=True) == {
        "keyboard": [[{"text": "📱 Share", "request_contact": True}]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }
    removed = reply_markup(Reply("Cancelled", keyboard=RemoveKeyboard()))
    assert removed is not None
    assert removed.model_dump(exclude_none=True) == {"remove_keyboard": True}
    assert reply_markup(Reply("Menu", MENU)) is inline_markup(MENU)


def test_no_filter_or_handler_of_the_conversation_runs_on_a_thread() -> None:
    router = build_router()
    observers = (router.message, router.callback_query, router.pre_checkout_query)
    handlers = [handler for observer in observers for handler in observer.handlers]
    assert handlers
    for handler in handlers:
        assert handler.awaitable
        assert all(flt.awaitable for flt in handler.filters or ())
