"""What every log line written during a chat turn names: the update, the chat and the order.

The shared turn handling (`handlers.chat_queues.ChatQueues.turn`, used by every front end)
opens a turn's facts; whatever runs inside the turn (tasks it starts included: they share the
same facts) may add the order it works on; a log formatter reads them. Never the phone: the
chat id and the order number are all a line needs to be found again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class TurnFacts:
    chat_id: int
    update_id: int | None = None
    # The first order the turn read or wrote (the one it acts on), by the number staff quote.
    order_number: str | None = None


_current: ContextVar[TurnFacts | None] = ContextVar("chat_turn_facts", default=None)


@contextmanager
def chat_turn(chat_id: int, update_id: int | None) -> Iterator[TurnFacts]:
    """The facts of one chat turn, for every line logged until the turn ends."""
    facts = TurnFacts(chat_id, update_id)
    token = _current.set(facts)
    try:
        yield facts
    finally:
        _current.reset(token)


def current_turn() -> TurnFacts | None:
    """The facts of the chat turn under way, or None outside a turn (a sweep, start-up)."""
    return _current.get()


def note_order(number: str) -> None:
    """The turn under way works on this order (the first one noted is kept)."""
    facts = _current.get()
    if facts is not None and facts.order_number is None:
        facts.order_number = number
