"""Sandbox payment provider and carrier gateway: the embedded default, for demos and tests.

The provider approves (or, when told, declines or gives no answer); the gateway completes a
top-up after a short delay, and fails top-ups to numbers ending in 0000 so that a demo can show
the refund path.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from domain.clock import Clock, utc_now
from domain.orders import Order
from domain.ports import ChargeOutcome, ChargeResult, TopUpResult, TopUpState


class SandboxMode(StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"
    TIMEOUT = "timeout"


@dataclass
class SandboxPayments:
    mode: SandboxMode = SandboxMode.APPROVE
    # How long a "timeout" takes before it gives up (kept short for demos).
    timeout_seconds: float = 0.0
    charges: dict[int, ChargeResult] = field(default_factory=dict)
    refunds: set[int] = field(default_factory=set)
    charge_calls: int = 0

    async def charge(self, order: Order) -> ChargeResult:
        self.charge_calls += 1
        if order.id in self.charges:  # idempotent per order
            return self.charges[order.id]
        if self.mode is SandboxMode.TIMEOUT:
            await asyncio.sleep(self.timeout_seconds)
            return ChargeResult(ChargeOutcome.UNKNOWN)
        if self.mode is SandboxMode.DECLINE:
            return ChargeResult(ChargeOutcome.DECLINED, reason="card_declined")
        result = ChargeResult(ChargeOutcome.APPROVED, reference=f"sandbox-{order.number}")
        self.charges[order.id] = result
        return result

    async def status(self, order: Order) -> ChargeResult:
        return self.charges.get(order.id, ChargeResult(ChargeOutcome.UNKNOWN))

    async def refund(self, order: Order, reference: str | None) -> bool:
        self.refunds.add(order.id)
        return True


FAILING_SUFFIX = "0000"


@dataclass
class SandboxGateway:
    """Completes each top-up `delay` after it was submitted; idempotent per order."""

    delay: timedelta = timedelta(seconds=3)
    clock: Clock = utc_now
    submitted: dict[int, datetime] = field(default_factory=dict)
    submit_calls: int = 0
    # The data pack topped up together with an order's call credit (bundles), per order.
    packs: dict[int, str] = field(default_factory=dict)

    async def submit(self, order: Order) -> TopUpResult:
        self.submit_calls += 1
        self.submitted.setdefault(order.id, self.clock())
        if order.bundle is not None:
            self.packs.setdefault(order.id, order.bundle.code)
        return await self.status(order)

    async def status(self, order: Order) -> TopUpResult:
        reference = f"sandbox-topup-{order.number}"
        if (order.phone_digits or "").endswith(FAILING_SUFFIX):
            return TopUpResult(TopUpState.FAILED, reference, "number_not_rechargeable")
        since = self.submitted.get(order.id)
        if since is None or self.clock() - since >= self.delay:
            return TopUpResult(TopUpState.COMPLETED, reference)
        return TopUpResult(TopUpState.PENDING, reference)
