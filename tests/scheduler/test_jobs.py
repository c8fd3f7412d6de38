"""The scheduler's sweeps run on time and are safe to run twice."""

from __future__ import annotations

import asyncio

from bot.assembly import App
from handlers.contract import ContactKeyboard
from scheduler.jobs import Schedule, build_scheduler, reset_abandoned_conversations
from tests.handlers.chat import Chat


async def test_a_running_scheduler_resets_abandoned_conversations(app: App) -> None:
    chat = Chat.of(app.conversation)
    await chat.send("/bind")
    assert isinstance(chat.replies[0].keyboard, ContactKeyboard)

    scheduler = build_scheduler(app.services, Schedule(0, 0.05), app.outbound)
    scheduler.start()
    try:
        for _ in range(100):
            turn = await app.services.customers.begin_turn(chat.user, chat.chat_id)
            if turn.state.idle:
                break
            await asyncio.sleep(0.02)
    finally:
        scheduler.shutdown(wait=False)
    # The customer is back at the menu: a typed 5-digit text is no longer read as a number.
    await chat.send("12345")
    assert chat.texts[0].startswith("抱歉，我没有理解")


async def test_the_sweep_run_twice_changes_nothing_more(app: App) -> None:
    chat = Chat.of(app.conversation)
    await chat.send("/bind")
    assert await reset_abandoned_conversations(app.services, idle_seconds=0) == 1
    assert await reset_abandoned_conversations(app.services, idle_seconds=0) == 0
