"""Where a customer is in a conversation: a named step and a few values, kept in the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

IDLE = "idle"


@dataclass(frozen=True)
class ConversationState:
    step: str = IDLE
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def idle(self) -> bool:
        return self.step == IDLE
