"""Money: integer fen (分) with an explicit currency. Never a float."""

from __future__ import annotations

from dataclasses import dataclass

CNY = "CNY"


class CurrencyMismatch(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Money:
    fen: int
    currency: str = CNY

    def __post_init__(self) -> None:
        if isinstance(self.fen, bool) or not isinstance(self.fen, int):
            raise TypeError(f"money is whole fen, not {self.fen!r}")

    @classmethod
    def yuan(cls, amount: int, currency: str = CNY) -> Money:
        return cls(amount * 100, currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.fen + other.fen, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.fen - other.fen, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.fen, self.currency)

    @property
    def is_positive(self) -> bool:
        return self.fen > 0

    def format(self) -> str:
        """¥100.00, ¥1,450.00 — the way a receipt shows it."""
        sign = "-" if self.fen < 0 else ""
        whole, part = divmod(abs(self.fen), 100)
        symbol = "¥" if self.currency == CNY else f"{self.currency} "
        return f"{sign}{symbol}{whole:,}.{part:02d}"

    def short(self) -> str:
        """¥50 for whole yuan, ¥49.50 otherwise: the way a button or a list line shows it."""
        if self.fen % 100:
            return self.format()
        return self.format().removesuffix(".00")

    @property
    def whole_yuan(self) -> int | None:
        """The amount in yuan when it is whole (50 for ¥50.00), else None."""
        return None if self.fen % 100 else self.fen // 100
