"""How support reads: ticket buttons, the card staff see, the messages relayed both ways.

Shared by the customer and staff features and by the relay sweep (scheduler/support.py).
Staff texts come from the catalogues like every other: what goes to the shared staff chat is in
its language (STAFF_CHAT_LANGUAGE, Chinese by default), what goes privately to a staff member
(an escalation, an answer to a command in a private chat) in that person's own language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from domain.languages import DEFAULT_LANGUAGE, Language
from domain.orders import CHINA, Order, OrderStatus
from domain.services.support import MessageKind, Outgoing
from domain.tickets import ERASED_TEXT, Category, SupportStats, Ticket
from handlers.buttons import ButtonData
from handlers.contract import Button, Reply
from handlers.i18n import Texts, texts
from handlers.receipts import product_name, status_name

STARS = (1, 2, 3, 4, 5)


def staff_texts(language: Language = DEFAULT_LANGUAGE) -> Texts:
    """The texts for staff in `language` (the staff chat's, or a staff member's own)."""
    return texts(language)


def words(t: Texts, text: str) -> str:
    """What someone wrote in a ticket, or "erased" once the customer erased their data."""
    return t("staff.erased") if text == ERASED_TEXT else text


# -- customer buttons ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ShowFeedback(ButtonData, prefix="fb"):
    pass


@dataclass(frozen=True)
class GiveSuggestion(ButtonData, prefix="fb+s"):
    pass


@dataclass(frozen=True)
class MakeComplaint(ButtonData, prefix="fb+c"):
    pass


@dataclass(frozen=True)
class ComplaintCategory(ButtonData, prefix="fbc"):
    category: Category


@dataclass(frozen=True)
class ComplaintOrder(ButtonData, prefix="fbo"):
    """The order a complaint is about; 0 for none."""

    category: Category
    order_id: int


@dataclass(frozen=True)
class ShowMyTickets(ButtonData, prefix="fbt"):
    pass


@dataclass(frozen=True)
class MyTicket(ButtonData, prefix="fbt#"):
    ticket_id: int


@dataclass(frozen=True)
class WriteToTicket(ButtonData, prefix="fbw"):
    ticket_id: int


@dataclass(frozen=True)
class CloseTicket(ButtonData, prefix="fbx"):
    ticket_id: int


@dataclass(frozen=True)
class ReopenTicket(ButtonData, prefix="fbr"):
    ticket_id: int


@dataclass(frozen=True)
class RateSupport(ButtonData, prefix="fbs"):
    ticket_id: int
    stars: int


@dataclass(frozen=True)
class RateOrder(ButtonData, prefix="rate"):
    order_id: int
    stars: int


@dataclass(frozen=True)
class CommentOrder(ButtonData, prefix="rate+"):
    order_id: int


# -- staff buttons ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TakeTicket(ButtonData, prefix="tk+"):
    ticket_id: int


@dataclass(frozen=True)
class ResolveTicket(ButtonData, prefix="tk!"):
    ticket_id: int


@dataclass(frozen=True)
class RefundTicketOrder(ButtonData, prefix="tk$"):
    ticket_id: int


@dataclass(frozen=True)
class StaffReopen(ButtonData, prefix="tk~"):
    ticket_id: int


@dataclass(frozen=True)
class StaffTicket(ButtonData, prefix="tk#"):
    ticket_id: int


# -- customer side ------------------------------------------------------------------------------
def order_rating_row(t: Texts, order: Order) -> tuple[Button, ...]:
    """One tap to rate a completed recharge, 1–5."""
    return tuple(Button(t("rate.star", stars=n), RateOrder(order.id, n).pack()) for n in STARS)


def csat_rows(t: Texts, ticket: Ticket) -> tuple[tuple[Button, ...], ...]:
    stars = tuple(Button(t("rate.star", stars=n), RateSupport(ticket.id, n).pack()) for n in STARS)
    return (stars, (Button(t("support.not_solved"), ReopenTicket(ticket.id).pack()),))


def answer_rows(t: Texts, ticket: Ticket) -> tuple[tuple[Button, ...], ...]:
    return (
        (
            Button(t("support.reply"), WriteToTicket(ticket.id).pack()),
            Button(t("support.close"), CloseTicket(ticket.id).pack()),
        ),
    )


def status_text(t: Texts, ticket: Ticket) -> str:
    return t(f"support.status.{ticket.status}")


def staff_status(t: Texts, ticket: Ticket) -> str:
    """The ticket's state as staff read it ("waiting for the customer", not "for you")."""
    return t(f"staff.status.{ticket.status}")


def category_name(t: Texts, category: Category) -> str:
    return t(f"support.category.{category}")


def ticket_line(t: Texts, ticket: Ticket) -> str:
    return t(
        "support.ticket_line",
        number=ticket.number,
        category=category_name(t, ticket.category),
        status=status_text(t, ticket),
        date=f"{ticket.created_at.astimezone(CHINA):%m-%d %H:%M}",
    )


def minutes(value: timedelta) -> int:
    return max(1, round(value.total_seconds() / 60))


def customer_reply(t: Texts, out: Outgoing) -> Reply:
    """A ticket message for its customer, in their language."""
    ticket = out.ticket
    if out.kind is MessageKind.STAFF:
        text = t("support.from_staff", number=ticket.number, text=out.text)
        return Reply(text[:4096], answer_rows(t, ticket))
    return Reply(t("support.resolved", number=ticket.number), csat_rows(t, ticket))


# -- staff side ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CardFacts:
    """What staff see of the customer with a new ticket."""

    phones: tuple[str, ...]  # masked
    tier_key: str
    points: int
    orders: tuple[Order, ...]
    order: Order | None


# Orders staff may ask to be refunded from a ticket: the refund path takes them to "refunded"
# (a failed order at once; a paid or topping-up one once the carrier says it failed).
REFUNDABLE = frozenset({OrderStatus.PAID, OrderStatus.TOPPING_UP, OrderStatus.FAILED})


def staff_buttons(t: Texts, ticket: Ticket, order: Order | None) -> tuple[tuple[Button, ...], ...]:
    if not ticket.active:
        return ((Button(t("staff.reopen"), StaffReopen(ticket.id).pack()),),)
    row = [Button(t("staff.resolve"), ResolveTicket(ticket.id).pack())]
    if ticket.assignee_id is None:
        row.insert(0, Button(t("staff.take"), TakeTicket(ticket.id).pack()))
    rows = [tuple(row)]
    if order is not None and order.status in REFUNDABLE:
        rows.append((Button(t("staff.refund"), RefundTicketOrder(ticket.id).pack()),))
    return tuple(rows)


def order_line(t: Texts, order: Order) -> str:
    return t(
        "staff.order_line",
        number=order.number,
        product=product_name(t, order),
        amount=order.amount.format(),
        status=status_name(t, order.status),
    )


def card_text(t: Texts, ticket: Ticket, facts: CardFacts, description: str) -> str:
    lines = [
        t(
            "staff.card",
            number=ticket.number,
            priority=t(f"staff.priority.{ticket.priority}"),
            category=category_name(t, ticket.category),
            status=staff_status(t, ticket),
        ),
        t.plural(
            "staff.customer",
            facts.points,
            phones=", ".join(facts.phones) or "-",
            tier=t(f"tier.{facts.tier_key}"),
            points=facts.points,
        ),
    ]
    if facts.order is not None:
        lines.append(t("staff.about_order", order=order_line(t, facts.order)))
    if facts.orders:
        lines.append(t("staff.recent_orders"))
        lines.extend(f"• {order_line(t, o)}" for o in facts.orders)
    lines.append(t("staff.description", text=words(t, description)))
    lines.append(t("staff.how_to_answer"))
    return "\n".join(lines)[:4096]


def staff_note(t: Texts, out: Outgoing) -> str:
    """A ticket event for the staff chat (not the card)."""
    ticket = out.ticket
    if out.kind is MessageKind.CUSTOMER:
        return t("staff.from_customer", number=ticket.number, text=words(t, out.text))[:4096]
    if out.kind is MessageKind.RATED:
        return t.plural(
            "staff.rated",
            int(out.text) if out.text.isdigit() else 0,
            number=ticket.number,
            stars=out.text,
        )
    if out.kind is MessageKind.ESCALATION:
        return t(
            "staff.escalation",
            number=ticket.number,
            priority=t(f"staff.priority.{ticket.priority}"),
        )
    return t(f"staff.{out.kind}", number=ticket.number)


def ticket_summary(t: Texts, ticket: Ticket) -> str:
    return t(
        "staff.ticket_line",
        number=ticket.number,
        priority=t(f"staff.priority.{ticket.priority}"),
        category=category_name(t, ticket.category),
        status=staff_status(t, ticket),
        date=f"{ticket.created_at.astimezone(CHINA):%m-%d %H:%M}",
    )


def duration(t: Texts, value: timedelta | None) -> str:
    if value is None:
        return "-"
    total = int(value.total_seconds())
    if total < 3600:
        return t("staff.minutes", minutes=max(0, round(total / 60)))
    return t("staff.hours", hours=f"{total / 3600:.1f}")


def stats_text(t: Texts, days: int, stats: SupportStats) -> str:
    lines = [
        t("staff.stats", days=days, tickets=stats.tickets),
        t(
            "staff.stats_first",
            average=duration(t, stats.first_response_avg),
            p90=duration(t, stats.first_response_p90),
        ),
        t("staff.stats_resolution", average=duration(t, stats.resolution_avg)),
        t.plural(
            "staff.stats_csat",
            stats.csat_count,
            csat=f"{stats.csat_avg:.1f}" if stats.csat_avg is not None else "-",
        ),
    ]
    for category in Category:
        count = stats.by_category.get(category, 0)
        lines.append(t("staff.stats_line", category=category_name(t, category), count=count))
    return "\n".join(lines)
