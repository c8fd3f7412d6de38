"""The outbound limiter's windows, with a fake clock: per group per minute, per chat, overall,
and a message under way holding its place until Telegram answered."""

from __future__ import annotations

from bot.delivery_port import DeliveryLimits, RateLimiter, SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_window_counts_each_message_from_its_answer() -> None:
    window = SlidingWindow(limit=2, window=1.0)
    window.start()
    window.start()
    assert window.free_at(0.0) == float("inf")  # both under way: wait for an answer
    window.end(0.3)
    assert window.free_at(0.3) == 1.3
    window.end(0.5)
    assert window.free_at(1.0) == 1.3
    assert window.free_at(1.31) == 1.31


def test_a_group_gets_twenty_a_minute_while_private_chats_go_on() -> None:
    clock = Clock()
    limiter = RateLimiter(DeliveryLimits(group_per_minute=3, global_per_second=100), clock)
    group, person = -1001, 42
    for _ in range(3):
        assert limiter._free_at(group, clock.now) == clock.now
        limiter._chat(group).start()
        limiter._global.start()
        limiter.release(group)
        clock.now += 1
    assert limiter._free_at(group, clock.now) == 100.0 + 60
    assert limiter._free_at(person, clock.now) == clock.now


def test_a_429_holds_back_its_chat_and_several_at_once_hold_back_all() -> None:
    clock = Clock()
    limiter = RateLimiter(DeliveryLimits(), clock)
    limiter.refused(1, 5)
    assert limiter._free_at(1, clock.now) == 105.0
    assert limiter._free_at(2, clock.now) == clock.now
    limiter.refused(2, 5)
    limiter.refused(3, 5)
    assert limiter._free_at(4, clock.now) == 105.0
