"""The sandbox payment provider and carrier gateway, chosen explicitly by the tests that use them
(the product offers them only in demo mode)."""

from __future__ import annotations

from datetime import timedelta

from domain.integrations.sandbox import SandboxGateway, SandboxPayments
from domain.orders import PaymentMethod
from domain.services.registry import Ports

SANDBOX_METHODS = (PaymentMethod.WALLET, PaymentMethod.SANDBOX)


def sandbox_ports(delay: timedelta = timedelta(0)) -> Ports:
    """Sandbox payment that approves and a sandbox gateway that completes after `delay`."""
    return Ports(SandboxGateway(delay), {PaymentMethod.SANDBOX: SandboxPayments()})
