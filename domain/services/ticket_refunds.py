"""A staff refund from a support ticket: the ticket's order refunded through the order's own
refund path, once, with the two-person rule for large amounts and an audit record.

The refund itself is the order's own refund path (`FulfilmentService.refund_step`): a claim
on its payment (through a payment provider) or its conditional move from failed to refunded
(to the wallet, with its entry keyed by the order), so of any number of presses at once exactly
one refunds; a press while the provider is being asked is told the refund is under way. Above
the two-person threshold the first staff member's press is recorded (an audit record, in its
own transaction) and a second, different staff member's press refunds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.audit import ActorKind, AuditAction, AuditEntry
from domain.clock import Clock, utc_now
from domain.orders import Order, OrderStatus
from domain.repositories import UnitOfWorkFactory
from domain.services.fulfilment import FulfilmentService, RefundStep
from domain.services.support import TicketNotFound

S = OrderStatus
# A paid or topping-up order is asked about first: refunded only once the carrier says failed.
REFUNDABLE = frozenset({S.PAID, S.TOPPING_UP, S.FAILED})


class RefundOutcome(StrEnum):
    REFUNDED = "refunded"  # this press refunded the order
    ALREADY = "already"  # refunded before (by another press or the refund sweep)
    PENDING = "pending"  # the carrier has not said the top-up failed: nothing refunded yet
    UNDER_WAY = "under_way"  # the provider is being asked for this order's refund already
    AWAITING_SECOND = "awaiting_second"  # two-person rule: a different staff member must press
    COMPLETED = "completed"  # a completed order is never refunded here
    NOT_ALLOWED = "not_allowed"  # unpaid, expired or held: nothing was charged
    NO_ORDER = "no_order"


@dataclass(frozen=True)
class TicketRefund:
    outcome: RefundOutcome
    order: Order | None = None
    # Two-person rule: the staff member who approved first (the one waited for, or the one
    # whose approval this refund completed).
    first_approver: int | None = None


class TicketRefunds:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        fulfilment: FulfilmentService,
        two_person_fen: int,
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        self._fulfilment = fulfilment
        self.two_person_fen = two_person_fen
        self._clock = clock

    async def refund(self, ticket_id: int, staff_id: int, staff_name: str) -> TicketRefund:
        async with self._uow.read() as uow:
            ticket = await uow.support.ticket(ticket_id)
        if ticket is None:
            raise TicketNotFound(ticket_id)
        if ticket.order_id is None:
            return TicketRefund(RefundOutcome.NO_ORDER)
        order = await self._fulfilment.get(ticket.order_id)
        if order.status is S.REFUNDED:
            return TicketRefund(RefundOutcome.ALREADY, order)
        if order.status is S.COMPLETED:
            return TicketRefund(RefundOutcome.COMPLETED, order)
        if order.status not in REFUNDABLE:
            return TicketRefund(RefundOutcome.NOT_ALLOWED, order)
        subject = f"ticket:{ticket_id}"
        first: int | None = None
        if 0 < self.two_person_fen <= order.amount.fen:
            async with self._uow() as uow:
                approvers = await uow.audit.actors(AuditAction.FIRST_APPROVAL.value, subject)
                others = approvers - {staff_id}
                if not others:
                    if staff_id not in approvers:
                        detail = f"refund order={order.id} amount_fen={order.amount.fen}"
                        entry = AuditEntry(
                            AuditAction.FIRST_APPROVAL,
                            ActorKind.STAFF,
                            staff_id,
                            subject,
                            detail,
                            staff_name,
                        )
                        await uow.audit.append(entry, self._clock())
                        await uow.commit()
                    return TicketRefund(RefundOutcome.AWAITING_SECOND, order, staff_id)
                first = min(others)
        if order.status is not S.FAILED:
            order = await self._fulfilment.refresh(order.id)  # ask the carrier first
        detail = f"order={order.id} amount_fen={order.amount.fen}"
        if first is not None:
            detail += f" first_approver={first}"
        entry = AuditEntry(
            AuditAction.TICKET_REFUNDED, ActorKind.STAFF, staff_id, subject, detail, staff_name
        )
        order, step = await self._fulfilment.refund_step(order.id, entry)
        if step is RefundStep.REFUNDED:
            return TicketRefund(RefundOutcome.REFUNDED, order, first)
        if step is RefundStep.UNDER_WAY:
            return TicketRefund(RefundOutcome.UNDER_WAY, order, first)
        if order.status is S.REFUNDED:
            return TicketRefund(RefundOutcome.ALREADY, order, first)
        if order.status is S.COMPLETED:
            return TicketRefund(RefundOutcome.COMPLETED, order, first)
        return TicketRefund(RefundOutcome.PENDING, order, first)
