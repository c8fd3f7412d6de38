"""What one chat may hold: its turns in order, a bound, one notice per flood, a count."""

from __future__ import annotations

import logging

import pytest

from domain.languages import Language
from handlers.chat_queues import ChatQueues, slow_down_reply
from handlers.i18n import texts


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_full_chat_drops_and_tells_once_per_flood(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    queues = ChatQueues(2, calm_seconds=10, clock=clock)
    caplog.set_level(logging.INFO)

    taken = [queues.admit(1), queues.admit(1)]
    dropped = [queues.admit(1) for _ in range(5)]
    other = queues.admit(2)

    assert all(a.taken for a in taken) and other.taken
    assert [a.taken for a in dropped] == [False] * 5
    assert [a.tell for a in dropped] == [True, False, False, False, False]
    assert queues.dropped == 5 and queues.flooding(1) and not queues.flooding(2)

    # The chat catches up, but the flood goes on within the calm time: no second notice.
    for admission in taken:
        queues.leave(admission)
    clock.now = 5
    again = [queues.admit(1), queues.admit(1), queues.admit(1)]
    assert [a.taken for a in again] == [True, True, False]
    assert not again[2].tell

    # Calm long enough: the flood is over (logged with its count), a new one is told again.
    for admission in again[:2]:
        queues.leave(admission)
    clock.now = 16
    queues.end_calm_floods()
    assert not queues.flooding(1)
    assert "6 updates were dropped" in caplog.text
    [queues.admit(1) for _ in range(2)]
    assert queues.admit(1).tell


def test_a_payment_is_always_taken() -> None:
    queues = ChatQueues(1)
    queues.admit(1)

    assert queues.admit(1, always=True).taken
    assert queues.holding(1) == 2


def test_the_notice_is_in_the_customers_language() -> None:
    assert slow_down_reply("en").text == texts(Language.EN)("flood.slow_down")
    assert slow_down_reply("zh-hans").text == texts(Language.ZH_CN)("flood.slow_down")
    assert slow_down_reply(None).text != slow_down_reply("en").text
