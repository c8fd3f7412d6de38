"""A database outage is logged when it starts, in one line for each turn or sweep it failed, and
when it ends; never as a traceback above DEBUG."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import OperationalError

from bot.assembly import App
from domain.languages import Language
from handlers.i18n import texts
from scheduler.jobs import through_outage, under_lease
from scheduler.reminders import SchedulerLease
from tests.handlers.chat import Chat
from tests.help_text import customer_help


def refused() -> OperationalError:
    """What SQLAlchemy raises when the database server refuses connections."""
    return OperationalError(
        None, None, ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
    )


async def test_an_outage_is_logged_when_it_starts_a_line_a_turn_and_when_it_ends(
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
    assert len(records) == 1 + len(chats) + 1
    started, *turns, ended = (r.getMessage() for r in records)
    assert "unreachable" in started and "Connect call failed" in started
    assert records[0].levelno == logging.ERROR
    for chat, line in zip(chats, turns, strict=True):  # one line a turn, naming its chat
        assert f"of chat {chat.chat_id} failed: database unavailable" in line, line
        assert "Connect call failed" in line and "\n" not in line
    assert all(r.levelno == logging.WARNING for r in records[1:])
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


async def test_sweeps_during_an_outage_are_logged_a_line_each_and_at_each_end(
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
    assert len(records) == 1 + 12 + 1
    assert all("failed: database unavailable" in r.getMessage() for r in records[1:-1])
    assert "12 sweeps failed" in records[-1].getMessage()


async def test_a_sweep_failing_for_want_of_the_database_is_one_line_not_the_schedulers(
    app: App, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep that got the lease and then lost the database mid-way: one WARNING line; the
    scheduler (which logs a traceback for a job that raises) is not told."""
    lease = SchedulerLease(app.services, 60, holder="worker-1")

    async def half_done() -> None:
        raise refused()

    async def a_bug() -> None:
        raise ValueError("a bug, not an outage")

    caplog.set_level(logging.INFO)
    assert await through_outage(lease, under_lease(lease, half_done))() is None
    with pytest.raises(ValueError):
        await through_outage(lease, under_lease(lease, a_bug))()
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in records if r.exc_info]
    assert [r.getMessage().split(" (")[0] for r in records[1:]] == [
        "the sweep half_done failed: database unavailable",
        "the database is back after 0.0 s; 1 sweeps failed while it was unreachable",
    ]
