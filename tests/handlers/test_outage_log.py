"""A database outage is logged when it starts and when it ends, not as a traceback per update."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import OperationalError

from bot.assembly import App
from domain.languages import Language
from handlers.i18n import texts
from scheduler.jobs import under_lease
from scheduler.reminders import SchedulerLease
from tests.handlers.chat import Chat
from tests.help_text import customer_help


def refused() -> OperationalError:
    """What SQLAlchemy raises when the database server refuses connections."""
    return OperationalError(
        None, None, ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
    )


async def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    app: App, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = app.services.customers
    begin_turn = customers.begin_turn
    chats = [Chat.of(app.conversation, telegram_id=8000 + n, language="en") for n in range(40)]
    await chats[0].send("/start")

    async def unreachable(*_args: object) -> object:
        raise refused()

    monkeypatch.setattr(customers, "begin_turn", unreachable)
    caplog.set_level(logging.INFO)
    caplog.clear()
    for chat in chats:
        outcome = await chat.send("/help")
        assert [reply.text for reply in outcome.replies] == [texts(Language.EN)("error.internal")]
    monkeypatch.setattr(customers, "begin_turn", begin_turn)
    outcome = await chats[0].send("/help")

    assert outcome.replies[0].text == customer_help(Language.EN)
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in records if r.exc_info]  # no traceback at all
    assert len(records) == 2
    started, ended = (r.getMessage() for r in records)
    assert "unreachable" in started and "Connect call failed" in started
    assert "back after" in ended and "40 turns failed" in ended


async def test_other_failures_keep_their_traceback(
    app: App, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: object) -> object:
        raise ValueError("a bug, not an outage")

    monkeypatch.setattr(app.services.customers, "begin_turn", broken)
    await Chat.of(app.conversation).send("/help")
    await Chat.of(app.conversation).send("/help")

    assert len([r for r in caplog.records if r.exc_info]) == 2


async def test_sweeps_during_an_outage_are_logged_once_at_each_end(
    app: App, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    swept: list[int] = []

    async def sweep() -> None:
        swept.append(1)

    leased = under_lease(SchedulerLease(app.services, 60, holder="worker-1"), sweep)
    reminders = app.services.reminders
    hold_lease = reminders.hold_lease

    async def unreachable(*_args: object) -> bool:
        raise refused()

    monkeypatch.setattr(reminders, "hold_lease", unreachable)
    caplog.set_level(logging.INFO)
    for _ in range(12):
        await leased()
    monkeypatch.setattr(reminders, "hold_lease", hold_lease)
    await leased()

    assert swept == [1]  # nothing swept while the database was away
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in records if r.exc_info]
    assert len(records) == 2
    assert "12 sweeps failed" in records[1].getMessage()
