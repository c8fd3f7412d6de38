"""Campaign pushes (broadcasts): the rules that need no database.

A broadcast is a message staff send to a chosen audience. Each recipient is one row of the
broadcast outbox, sent at most once. Pushes are marketing: they go only to customers who have
not turned them off, at most `daily_cap` a customer a day (China time) across all broadcasts,
never in quiet hours, and never about an offer the customer already took or that sold out or
ended by the moment of sending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.orders import china_day_start


class BroadcastStatus(StrEnum):
    DRAFT = "draft"  # being composed; nothing planned
    SCHEDULED = "scheduled"  # planned (or being planned) and sent from `send_at`
    PAUSED = "paused"  # nothing more is sent until resumed
    CANCELLED = "cancelled"  # nothing more is ever sent; queued rows are skipped
    DONE = "done"  # every row sent, skipped or failed


class PushTarget(StrEnum):
    """Where a button of a push leads, inside the bot."""

    OFFERS = "offers"
    RECHARGE = "recharge"
    SURVEY = "survey"


class PushSkip(StrEnum):
    """Why a planned push was not sent: checked again at the moment of sending."""

    OPTED_OUT = "opted_out"
    UNREACHABLE = "unreachable"
    ERASED = "erased"
    FREQUENCY_CAP = "frequency_cap"
    TAKEN = "taken"
    SOLD_OUT = "sold_out"
    OVER = "over"
    CANCELLED = "cancelled"


# Most buttons a push may carry (besides "turn pushes off").
MAX_PUSH_BUTTONS = 3


def push_cap_scope(at: datetime) -> str:
    """The allowance that counts a customer's pushes on one day in China."""
    return f"push:{china_day_start(at).date().isoformat()}"


@dataclass(frozen=True)
class PushContent:
    """What a broadcast says: a text per language and up to three buttons into the bot."""

    text_zh: str
    text_en: str
    targets: tuple[PushTarget, ...] = ()

    def __post_init__(self) -> None:
        if len(self.targets) > MAX_PUSH_BUTTONS:
            raise ValueError(f"a push has at most {MAX_PUSH_BUTTONS} buttons")
        if not self.text_zh.strip() or not self.text_en.strip():
            raise ValueError("a push needs its text in both languages")

    def text_in(self, chinese: bool) -> str:
        return self.text_zh if chinese else self.text_en
