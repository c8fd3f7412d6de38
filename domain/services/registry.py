"""All use-case services, built once from one unit-of-work factory."""

from __future__ import annotations

from dataclasses import dataclass

from domain.clock import Clock, utc_now
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.services.customers import ConversationService, CustomerService


@dataclass(frozen=True)
class Services:
    customers: CustomerService
    conversations: ConversationService


def build_services(uow: UnitOfWorkFactory, clock: Clock = utc_now) -> Services:
    return Services(
        customers=CustomerService(uow, clock),
        conversations=ConversationService(uow, clock),
    )
