"""What the business tells the operators as it happens: a port the services call, implemented
by the wiring (the Prometheus metrics of `bot/`), and doing nothing by default.

Counted here: payments by method and outcome, the carrier's top-up answers by outcome, offer
slots claimed (won, or sold out), deliveries by outcome and the 429s among their tries, each
sweep's duration, and whether this process holds the scheduler's lease.
"""

from __future__ import annotations

from typing import Protocol


class Observations(Protocol):
    def payment(self, method: str, outcome: str) -> None: ...

    def top_up(self, outcome: str) -> None: ...

    def quota_claim(self, won: bool, count: int = 1) -> None: ...

    def delivery(self, outcome: str) -> None: ...

    def too_many_requests(self) -> None: ...

    def sweep(self, name: str, seconds: float) -> None: ...

    def lease(self, held: bool) -> None: ...


class Unobserved:
    """Observations that go nowhere (tests, and a process without metrics)."""

    def payment(self, method: str, outcome: str) -> None:
        pass

    def top_up(self, outcome: str) -> None:
        pass

    def quota_claim(self, won: bool, count: int = 1) -> None:
        pass

    def delivery(self, outcome: str) -> None:
        pass

    def too_many_requests(self) -> None:
        pass

    def sweep(self, name: str, seconds: float) -> None:
        pass

    def lease(self, held: bool) -> None:
        pass


UNOBSERVED: Observations = Unobserved()
