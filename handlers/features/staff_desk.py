"""The staff side of support: answering tickets by replying to their messages in the staff chat,
the ticket card's buttons (take, resolve, refund), /tickets, /ticket N, /answer N TEXT and
/support_stats. Without a staff chat, /tickets, /ticket N and /answer N are how staff work.

Every staff command and button checks `is_staff` first; anyone else gets a polite refusal and
nothing changes. Text in a group that is not a reply to a ticket message stays among staff.

Languages: what is said in a group (the shared staff chat) is in the staff chat's language
(STAFF_CHAT_LANGUAGE); what only the staff member sees (a private chat, a button's notice) is in
their own language.
"""

from __future__ import annotations

from datetime import timedelta

from domain.limits import parse_id
from domain.services.recharge import RechargeError
from domain.services.registry import Services
from domain.services.support import AlreadyTaken, MessageKind, SupportError, TicketNotFound
from domain.services.ticket_refunds import RefundOutcome
from domain.tickets import Ticket
from handlers.arguments import shown
from handlers.contract import Button, Reply
from handlers.i18n import Texts, texts
from handlers.router import Context, ConversationRouter
from handlers.support_views import (
    CardFacts,
    RefundTicketOrder,
    ResolveTicket,
    StaffReopen,
    StaffTicket,
    TakeTicket,
    card_text,
    order_line,
    staff_buttons,
    stats_text,
    ticket_summary,
    words,
)

MAX_TEXT = 3500
DEFAULT_STATS_DAYS = 7
MAX_STATS_DAYS = 3660
_NO_WARNING = timedelta(0)


async def gather_facts(services: Services, ticket: Ticket) -> CardFacts:
    """What staff see of the customer beside a ticket: masked numbers, tier, points, orders."""
    phones = tuple(p.masked for p in await services.customers.phones(ticket.customer_id))
    standing = await services.loyalty.standing(ticket.customer_id, warn_within=_NO_WARNING)
    orders = tuple(await services.ordering.orders_of(ticket.customer_id, limit=3))
    order = None
    if ticket.order_id is not None:
        try:
            order = await services.ordering.get(ticket.order_id)
        except RechargeError:
            order = None
    return CardFacts(phones, standing.tier.tier.key, standing.points, orders, order)


async def card_reply(services: Services, ticket: Ticket, t: Texts) -> Reply:
    """The ticket's card as it stands now, with the buttons its state allows."""
    facts = await gather_facts(services, ticket)
    transcript = await services.support.transcript(ticket.id)
    description = next((line.text for line in transcript if line.kind is MessageKind.CARD), "")
    return Reply(card_text(t, ticket, facts, description), staff_buttons(t, ticket, facts.order))


def staff_name(ctx: Context) -> str:
    """The staff member as records show them: first name, else @username, else #id."""
    user = ctx.event.user
    return user.first_name or (f"@{user.username}" if user.username else f"#{user.telegram_id}")


def desk_texts(ctx: Context) -> Texts:
    """The language of an answer in the chat the staff member wrote in: their own in a private
    chat, the staff chat's in a group."""
    if ctx.event.chat_type == "private":
        return ctx.t
    return texts(ctx.services.support.config.staff_language)


def _answer(ctx: Context, text: str, buttons: tuple[tuple[Button, ...], ...] = ()) -> None:
    """Answer in the chat and forum topic the staff member wrote in."""
    event = ctx.event
    ctx.outcome.replies.append(
        Reply(text[:4096], buttons, chat_id=event.chat_id, thread_id=event.thread_id)
    )


async def _refresh_card(ctx: Context, ticket: Ticket, notice: str) -> None:
    """The card whose button was pressed shows the ticket as it is now."""
    ctx.notice(notice)
    card = await card_reply(ctx.services, ticket, desk_texts(ctx))
    ctx.reply(card.text, card.buttons, edit=True)


async def relay_staff_reply(ctx: Context, ticket_id: int, text: str | None = None) -> bool:
    """A staff member's answer (a reply to a ticket message, or `text`) goes to the customer,
    as "Support". True when it was taken to be relayed."""
    event = ctx.event
    t = desk_texts(ctx)
    if event.message_id is None:
        return False
    try:
        await ctx.services.support.staff_reply(
            event.user.telegram_id,
            ticket_id,
            (event.text if text is None else text)[:MAX_TEXT],
            source_chat_id=event.chat_id,
            source_message_id=event.message_id,
            staff_name=staff_name(ctx),
        )
    except SupportError as error:
        _answer(ctx, t(f"staff.refused.{error.reason}", number=f"#{ticket_id}"))
        return False
    return True


def register(router: ConversationRouter) -> None:
    @router.text_hook
    async def staff_chat_text(ctx: Context) -> bool:
        """Every text in a group is the staff desk's: a reply to a ticket message from staff is
        relayed; anything else (staff talking among themselves) gets no answer."""
        event = ctx.event
        if event.chat_type == "private":
            return False
        if event.reply_to_message_id is None:
            return True
        support = ctx.services.support
        ticket_id = await support.ticket_answered_by(event.chat_id, event.reply_to_message_id)
        if ticket_id is None or not await ctx.services.staff.is_staff(event.user.telegram_id):
            return True
        await relay_staff_reply(ctx, ticket_id)
        return True

    @router.command("tickets", staff=True)
    async def tickets_command(ctx: Context) -> None:
        if not await ctx.staff_only():
            return
        t = desk_texts(ctx)
        tickets = await ctx.services.support.tickets()
        if not tickets:
            _answer(ctx, t("staff.no_tickets"))
            return
        rows = tuple(
            (Button(ticket_summary(t, ticket), StaffTicket(ticket.id).pack()),)
            for ticket in tickets
        )
        _answer(ctx, t.plural("staff.tickets_header", len(tickets)), rows)

    @router.command("ticket", staff=True)
    async def ticket_command(ctx: Context) -> None:
        if not await ctx.staff_only():
            return
        arg = ctx.event.args.strip()
        number = parse_id(arg.lstrip("#"))
        if number is None:
            t = desk_texts(ctx)
            bad = t("staff.ticket_bad_number", value=shown(arg)) + "\n" if arg else ""
            _answer(ctx, bad + t("staff.ticket_usage"))
            return
        await _show(ctx, number)

    @router.command("answer", staff=True)
    async def answer_command(ctx: Context) -> None:
        """/answer N TEXT: the answer goes to ticket N's customer (the way to answer from a
        private chat, and the only one without a staff chat)."""
        if not await ctx.staff_only():
            return
        t = desk_texts(ctx)
        given, _, text = ctx.event.args.strip().partition(" ")
        number = given.lstrip("#")
        if not given:
            _answer(ctx, t("staff.answer_usage"))
            return
        if parse_id(number) is None:
            bad = t("staff.ticket_bad_number", value=shown(given))
            _answer(ctx, f"{bad}\n{t('staff.answer_usage')}")
            return
        if not text.strip():
            _answer(
                ctx, f"{t('staff.answer_no_text', number=f'#{number}')}\n{t('staff.answer_usage')}"
            )
            return
        if await relay_staff_reply(ctx, int(number), text.strip()):
            _answer(ctx, t("staff.answered", number=f"#{number}"))

    @router.command("support_stats", staff=True)
    async def stats_command(ctx: Context) -> None:
        if not await ctx.staff_only():
            return
        arg = ctx.event.args.strip()
        t = desk_texts(ctx)
        if arg and not (arg.isdigit() and len(arg) <= 4 and 0 < int(arg) <= MAX_STATS_DAYS):
            _answer(ctx, t("staff.stats_bad_days", value=shown(arg), most=MAX_STATS_DAYS))
            return
        days = int(arg) if arg else DEFAULT_STATS_DAYS
        stats = await ctx.services.support.stats(days)
        text = stats_text(t, days, stats)
        surveys = await ctx.services.broadcasts.survey_results(days)
        if surveys:
            lines = [t("survey.stats_header")]
            for item in surveys:
                average = f"{item.average:.1f}"
                name = item.name(t.language)
                lines.append(
                    t.plural("survey.stats_item", item.answers, name=name, average=average)
                )
            text = "\n".join([text, "", *lines])
        if router.staff_chat_id is None:
            text = f"{t('staff.no_staff_chat')}\n\n{text}"
        _answer(ctx, text)

    @router.button(StaffTicket)
    async def show_ticket(ctx: Context, data: StaffTicket) -> None:
        if not await ctx.staff_only():
            return
        await _show(ctx, data.ticket_id)

    @router.button(TakeTicket)
    async def take(ctx: Context, data: TakeTicket) -> None:
        if not await ctx.staff_only():
            return
        t = ctx.t
        try:
            ticket = await ctx.services.support.take(
                ctx.event.user.telegram_id, data.ticket_id, staff_name(ctx)
            )
        except AlreadyTaken as taken:
            await _refresh_card(ctx, taken.ticket, t("staff.refused.taken"))
            return
        except SupportError as error:
            ctx.notice(t(f"staff.refused.{error.reason}", number=f"#{data.ticket_id}"))
            return
        await _refresh_card(ctx, ticket, t("staff.taken", number=ticket.number))

    @router.button(ResolveTicket)
    async def resolve(ctx: Context, data: ResolveTicket) -> None:
        if not await ctx.staff_only():
            return
        t = ctx.t
        try:
            ticket = await ctx.services.support.resolve(
                ctx.event.user.telegram_id, data.ticket_id, staff_name(ctx)
            )
        except SupportError as error:
            ctx.notice(t(f"staff.refused.{error.reason}", number=f"#{data.ticket_id}"))
            return
        await _refresh_card(ctx, ticket, t("staff.resolved_done", number=ticket.number))

    @router.button(StaffReopen)
    async def reopen(ctx: Context, data: StaffReopen) -> None:
        if not await ctx.staff_only():
            return
        t = ctx.t
        try:
            ticket = await ctx.services.support.reopen_by_staff(
                ctx.event.user.telegram_id, data.ticket_id, staff_name(ctx)
            )
        except SupportError as error:
            ctx.notice(t(f"staff.refused.{error.reason}", number=f"#{data.ticket_id}"))
            return
        await _refresh_card(ctx, ticket, t("staff.reopened_done", number=ticket.number))

    @router.button(RefundTicketOrder)
    async def refund(ctx: Context, data: RefundTicketOrder) -> None:
        if not await ctx.staff_only():
            return
        await _refund(ctx, data.ticket_id)


async def _show(ctx: Context, ticket_id: int) -> None:
    t = desk_texts(ctx)
    try:
        ticket = await ctx.services.support.get(ticket_id)
    except TicketNotFound:
        _answer(ctx, t("staff.refused.not_found", number=f"#{ticket_id}"))
        return
    card = await card_reply(ctx.services, ticket, t)
    lines = [card.text]
    for line in await ctx.services.support.transcript(ticket.id):
        if line.kind is MessageKind.CARD:
            continue
        who = (
            t("staff.said_customer") if line.kind is MessageKind.CUSTOMER else t("staff.said_staff")
        )
        lines.append(f"{who}: {words(t, line.text)}")
    if ticket.active:
        lines.append(t("staff.answer_hint", id=ticket.id))
    _answer(ctx, "\n".join(lines), card.buttons)


async def _refund(ctx: Context, ticket_id: int) -> None:
    """Refund the ticket's order where policy allows, once: through the order's own refund
    path (a failed order is refunded; a paid or topping-up one only once the carrier says it
    failed). A completed order is never refunded here: its points cannot be taken back. A
    large amount needs a second, different staff member (two-person rule)."""
    t, own = desk_texts(ctx), ctx.t
    try:
        done = await ctx.services.ticket_refunds.refund(
            ticket_id, ctx.event.user.telegram_id, staff_name(ctx)
        )
    except TicketNotFound:
        ctx.notice(own("staff.refused.not_found", number=f"#{ticket_id}"))
        return
    order = done.order
    if order is None:
        ctx.notice(own("staff.refund_no_order"))
        return
    key = REFUND_TEXTS[done.outcome]
    _answer(ctx, t(key, order=order_line(t, order)))
    ctx.notice(own(key, order=order.number)[:200])


REFUND_TEXTS = {
    RefundOutcome.REFUNDED: "staff.refunded",
    RefundOutcome.ALREADY: "staff.refund_already",
    RefundOutcome.PENDING: "staff.refund_pending",
    RefundOutcome.UNDER_WAY: "staff.refund_under_way",
    RefundOutcome.AWAITING_SECOND: "staff.refund_awaiting_second",
    RefundOutcome.COMPLETED: "staff.refund_completed",
    RefundOutcome.NOT_ALLOWED: "staff.refund_not_allowed",
    RefundOutcome.NO_ORDER: "staff.refund_no_order",
}
