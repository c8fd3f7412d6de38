"""The figures the campaign dashboard shows, as typed values (money in fen, never a float)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class HourlySales:
    """Completed recharges that ended in one UTC hour."""

    hour: datetime
    count: int
    fen: int
