"""Ports to the outside: payment providers and the carrier's top-up gateway.

Every call is idempotent per order (the order number is the idempotency key), so asking again
after a crash or a time-out never charges or tops up twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from domain.orders import Order


class ChargeOutcome(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    # No definite answer (time-out): the order stays payable and is asked about again later.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ChargeResult:
    outcome: ChargeOutcome
    reference: str | None = None
    reason: str | None = None


class PaymentProvider(Protocol):
    async def charge(self, order: Order) -> ChargeResult: ...

    async def status(self, order: Order) -> ChargeResult: ...

    async def refund(self, order: Order, reference: str | None) -> bool: ...


class TopUpState(StrEnum):
    COMPLETED = "completed"
    PENDING = "pending"
    FAILED = "failed"


@dataclass(frozen=True)
class TopUpResult:
    state: TopUpState
    reference: str | None = None
    reason: str | None = None


class TopUpGateway(Protocol):
    async def submit(self, order: Order) -> TopUpResult: ...

    async def status(self, order: Order) -> TopUpResult: ...
