"""Customers as the rest of the product sees them (plain values, no persistence)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.languages import Language
from domain.phone import Carrier, mask


@dataclass(frozen=True)
class TelegramProfile:
    """Who is talking to the bot, as the chat platform tells it."""

    telegram_id: int
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


@dataclass(frozen=True)
class Customer:
    id: int
    telegram_id: int | None
    first_name: str | None
    language: Language
    registered_at: datetime
    is_new: bool = False


@dataclass(frozen=True)
class BoundPhone:
    id: int
    digits: str
    carrier: Carrier
    bound_at: datetime

    @property
    def masked(self) -> str:
        return mask(self.digits)


MAX_BOUND_PHONES = 5
