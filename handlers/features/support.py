"""/feedback: suggestions, complaints that become tickets, the customer's side of a ticket, and
the 1–5 rating of a completed recharge.

A customer's later messages join their ticket when they reply to a "Support" message or tap
"Reply" under it; a staff member who replies in a private chat to a ticket message (an
escalation sent to a supervisor) answers the ticket.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.orders import CHINA, OrderStatus
from domain.services.recharge import RechargeError
from domain.services.support import (
    Flooded,
    OrderNotTheirs,
    SupportError,
    TicketNotActive,
    TicketNotFound,
)
from domain.tickets import ORDER_CATEGORIES, Category, Priority, Ticket, TicketStatus, priority_for
from handlers.contract import Button
from handlers.features.staff_desk import relay_staff_reply
from handlers.menu import back_to_menu, cancel_row
from handlers.receipts import status_name, summary_line
from handlers.router import Context, ConversationRouter
from handlers.support_views import (
    CloseTicket,
    CommentOrder,
    ComplaintCategory,
    ComplaintOrder,
    GiveSuggestion,
    MakeComplaint,
    MyTicket,
    RateOrder,
    RateSupport,
    ReopenTicket,
    ShowFeedback,
    ShowMyTickets,
    WriteToTicket,
    answer_rows,
    category_name,
    csat_rows,
    minutes,
    order_line,
    staff_texts,
    ticket_line,
)

SUGGESTING = "support.suggestion"
DESCRIBING = "support.describe"  # data: {"category": str, "order": int, "priority": str}
WRITING = "support.writing"  # data: {"ticket": id}
# Just after a ticket opened: the next text typed joins it. data: {"ticket": id, "until": iso}
JUST_OPENED = "support.just_opened"
JOIN_WINDOW = timedelta(minutes=10)
COMMENTING = "support.order_comment"  # data: {"order": id}
MAX_TEXT = 2000


def _refused(ctx: Context, error: SupportError | RechargeError) -> None:
    key = "support.flooded" if isinstance(error, Flooded) else f"support.refused.{error.reason}"
    if isinstance(error, RechargeError):
        key = "support.refused.order_not_found"
    ctx.reply(ctx.t(key), (back_to_menu(ctx.t),))


async def _show_feedback(ctx: Context, *, edit: bool) -> None:
    rows = (
        (
            Button(ctx.t("support.suggestion"), GiveSuggestion().pack()),
            Button(ctx.t("support.complaint"), MakeComplaint().pack()),
        ),
        (Button(ctx.t("support.my_tickets"), ShowMyTickets().pack()),),
        back_to_menu(ctx.t),
    )
    ctx.reply(ctx.t("support.welcome"), rows, edit=edit)


async def _expected_wait(ctx: Context) -> str:
    """The published response time: the average of late, or the promise when none yet."""
    support = ctx.services.support
    average = await support.average_first_response(30)
    if average is not None:
        return ctx.t("support.average_wait", minutes=minutes(average))
    return ctx.t("support.promised_wait", minutes=minutes(support.config.first_response))


def _too_long(ctx: Context) -> bool:
    """A text over the limit is refused with the limit (the customer stays where they are)."""
    length = len(ctx.event.text)
    if length <= MAX_TEXT:
        return False
    ctx.reply(ctx.t("support.too_long", length=length, limit=MAX_TEXT), (cancel_row(ctx.t),))
    return True


async def _opened(ctx: Context, ticket: Ticket) -> None:
    until = datetime.now(UTC) + JOIN_WINDOW
    ctx.go(JUST_OPENED, ticket=ticket.id, until=until.isoformat())
    text = ctx.t("support.opened", number=ticket.number) + "\n" + await _expected_wait(ctx)
    ctx.reply(text, (*answer_rows(ctx.t, ticket), back_to_menu(ctx.t)))


def _ask_description(ctx: Context, category: Category, order_id: int, priority: Priority) -> None:
    ctx.go(DESCRIBING, category=category.value, order=order_id, priority=priority.value)
    text = ctx.t("support.ask_description", category=category_name(ctx.t, category), limit=MAX_TEXT)
    ctx.reply(text, (cancel_row(ctx.t),))


async def _missing_topup(ctx: Context, order_id: int) -> None:
    """ "Top-up not received": the order's status is checked at once; still not completed,
    a high-priority ticket opens right away."""
    try:
        order = await ctx.services.ordering.order_for(ctx.customer.id, order_id)
        if order.in_flight:
            order = await ctx.services.fulfilment.refresh(order.id)
    except RechargeError as error:
        _refused(ctx, error)
        return
    if order.status is OrderStatus.COMPLETED:
        when = f"{(order.completed_at or order.created_at).astimezone(CHINA):%Y-%m-%d %H:%M}"
        ctx.reply(ctx.t("support.topup_completed", number=order.number, time=when))
        _ask_description(ctx, Category.TOPUP_MISSING, order.id, Priority.NORMAL)
        return
    # Written for staff: in the staff chat's language.
    staff_t = staff_texts(ctx.services.support.config.staff_language)
    description = staff_t("staff.auto_topup_missing", order=order_line(staff_t, order))
    try:
        ticket = await ctx.services.support.open_ticket(
            ctx.customer.id,
            ctx.event.chat_id,
            Category.TOPUP_MISSING,
            description,
            order_id=order.id,
            priority=priority_for(Category.TOPUP_MISSING, order_not_completed=True),
        )
    except SupportError as error:
        _refused(ctx, error)
        return
    ctx.reply(
        ctx.t("support.topup_checked", number=order.number, status=status_name(ctx.t, order.status))
    )
    await _opened(ctx, ticket)


async def _show_ticket(ctx: Context, ticket_id: int) -> None:
    try:
        ticket = await ctx.services.support.own_ticket(ctx.customer.id, ticket_id)
    except TicketNotFound:
        ctx.notice(ctx.t("support.refused.not_found"))
        return
    lines = [ticket_line(ctx.t, ticket)]
    for line in await ctx.services.support.transcript(ticket.id):
        who = "support.you" if line.kind.value in ("card", "customer") else "support.staff_name"
        if ticket.category is Category.TOPUP_MISSING and line.kind.value == "card":
            continue  # written by the bot for staff
        lines.append(f"{ctx.t(who)}: {line.text}")
    rows: tuple[tuple[Button, ...], ...] = ()
    if ticket.active:
        rows = answer_rows(ctx.t, ticket)
    elif ticket.status is TicketStatus.RESOLVED and ticket.csat is None:
        rows = csat_rows(ctx.t, ticket)
    back = (Button(ctx.t("support.my_tickets"), ShowMyTickets().pack()),)
    ctx.reply("\n".join(lines)[:4096], (*rows, back), edit=True)


def register(router: ConversationRouter) -> None:
    router.menu_entry(80, "menu.feedback", ShowFeedback())

    @router.command("feedback", "support")
    async def feedback_command(ctx: Context) -> None:
        ctx.finish()
        await _show_feedback(ctx, edit=False)

    @router.button(ShowFeedback)
    async def feedback_button(ctx: Context, _data: ShowFeedback) -> None:
        ctx.finish()
        await _show_feedback(ctx, edit=True)

    # -- suggestions --------------------------------------------------------------------------
    @router.button(GiveSuggestion)
    async def suggestion(ctx: Context, _data: GiveSuggestion) -> None:
        ctx.go(SUGGESTING)
        ctx.reply(ctx.t("support.ask_suggestion", limit=MAX_TEXT), (cancel_row(ctx.t),))

    @router.step(SUGGESTING)
    async def typed_suggestion(ctx: Context) -> None:
        if _too_long(ctx):
            return
        try:
            await ctx.services.support.suggest(ctx.customer.id, ctx.event.text[:MAX_TEXT])
        except SupportError as error:
            ctx.finish()
            _refused(ctx, error)
            return
        ctx.finish()
        ctx.reply(ctx.t("support.suggestion_thanks"), (back_to_menu(ctx.t),))

    # -- complaints ---------------------------------------------------------------------------
    @router.button(MakeComplaint)
    async def complaint(ctx: Context, _data: MakeComplaint) -> None:
        rows = tuple(
            (Button(category_name(ctx.t, c), ComplaintCategory(c).pack()),) for c in Category
        )
        ctx.reply(ctx.t("support.ask_category"), (*rows, back_to_menu(ctx.t)), edit=True)

    @router.button(ComplaintCategory)
    async def category_chosen(ctx: Context, data: ComplaintCategory) -> None:
        if data.category in ORDER_CATEGORIES:
            orders = await ctx.services.ordering.orders_of(ctx.customer.id, limit=5)
            if orders:
                rows = [
                    (Button(summary_line(ctx.t, o), ComplaintOrder(data.category, o.id).pack()),)
                    for o in orders
                ]
                none = ComplaintOrder(data.category, 0).pack()
                rows.append((Button(ctx.t("support.no_order"), none),))
                ctx.reply(ctx.t("support.ask_order"), tuple(rows), edit=True)
                return
        _ask_description(ctx, data.category, 0, priority_for(data.category))

    @router.button(ComplaintOrder)
    async def order_chosen(ctx: Context, data: ComplaintOrder) -> None:
        if data.order_id and data.category is Category.TOPUP_MISSING:
            await _missing_topup(ctx, data.order_id)
            return
        if data.order_id:
            try:
                await ctx.services.ordering.order_for(ctx.customer.id, data.order_id)
            except RechargeError as error:
                _refused(ctx, error)
                return
        _ask_description(ctx, data.category, data.order_id, priority_for(data.category))

    @router.step(DESCRIBING)
    async def described(ctx: Context) -> None:
        if _too_long(ctx):
            return
        data = ctx.state.data
        try:
            category = Category(str(data.get("category")))
            priority = Priority(str(data.get("priority", Priority.NORMAL.value)))
        except ValueError:
            ctx.finish()
            await _show_feedback(ctx, edit=False)
            return
        order_id = int(str(data.get("order") or 0)) or None
        try:
            ticket = await ctx.services.support.open_ticket(
                ctx.customer.id,
                ctx.event.chat_id,
                category,
                ctx.event.text[:MAX_TEXT],
                order_id=order_id,
                priority=priority,
            )
        except SupportError as error:
            ctx.finish()
            _refused(ctx, error)
            return
        await _opened(ctx, ticket)

    # -- the customer's tickets ---------------------------------------------------------------
    @router.button(ShowMyTickets)
    async def my_tickets(ctx: Context, _data: ShowMyTickets) -> None:
        tickets = await ctx.services.support.tickets_of(ctx.customer.id)
        if not tickets:
            ctx.reply(ctx.t("support.no_tickets"), (back_to_menu(ctx.t),), edit=True)
            return
        rows = [(Button(ticket_line(ctx.t, t), MyTicket(t.id).pack()),) for t in tickets]
        ctx.reply(ctx.t("support.tickets_header"), (*rows, back_to_menu(ctx.t)), edit=True)

    @router.button(MyTicket)
    async def my_ticket(ctx: Context, data: MyTicket) -> None:
        await _show_ticket(ctx, data.ticket_id)

    @router.button(WriteToTicket)
    async def write(ctx: Context, data: WriteToTicket) -> None:
        try:
            ticket = await ctx.services.support.own_ticket(ctx.customer.id, data.ticket_id)
        except TicketNotFound:
            ctx.notice(ctx.t("support.refused.not_found"))
            return
        if ticket.status is TicketStatus.CLOSED:
            ctx.notice(ctx.t("support.refused.not_active"))
            return
        ctx.go(WRITING, ticket=ticket.id)
        text = ctx.t("support.ask_message", number=ticket.number, limit=MAX_TEXT)
        ctx.reply(text, (cancel_row(ctx.t),))

    @router.step(WRITING)
    async def written(ctx: Context) -> None:
        if _too_long(ctx):
            return
        ticket_id = int(str(ctx.state.data.get("ticket") or 0))
        ctx.finish()
        await _join_ticket(ctx, ticket_id)

    @router.button(CloseTicket)
    async def close(ctx: Context, data: CloseTicket) -> None:
        try:
            ticket = await ctx.services.support.close_by_customer(ctx.customer.id, data.ticket_id)
        except TicketNotFound:
            ctx.notice(ctx.t("support.refused.not_found"))
            return
        ctx.finish()
        ctx.reply(ctx.t("support.closed_by_you", number=ticket.number), (back_to_menu(ctx.t),))

    @router.button(ReopenTicket)
    async def reopen(ctx: Context, data: ReopenTicket) -> None:
        try:
            ticket = await ctx.services.support.reopen_by_customer(ctx.customer.id, data.ticket_id)
        except TicketNotFound:
            ctx.notice(ctx.t("support.refused.not_found"))
            return
        except TicketNotActive:
            ctx.notice(ctx.t("support.refused.not_active"))
            return
        ctx.reply(ctx.t("support.reopened", number=ticket.number), answer_rows(ctx.t, ticket))

    @router.button(RateSupport)
    async def rate_support(ctx: Context, data: RateSupport) -> None:
        if data.stars not in range(1, 6):
            ctx.notice(ctx.t("button.expired"))
            return
        try:
            rated = await ctx.services.support.rate_support(
                ctx.customer.id, data.ticket_id, data.stars
            )
        except SupportError as error:
            ctx.notice(ctx.t(f"support.refused.{error.reason}"))
            return
        if not rated:
            ctx.notice(ctx.t("support.rated_before"))
            return
        ctx.reply(
            ctx.t.plural("support.csat_thanks", data.stars, stars=data.stars),
            (back_to_menu(ctx.t),),
            edit=True,
        )

    # -- rating a completed recharge ----------------------------------------------------------
    @router.button(RateOrder)
    async def rate_order(ctx: Context, data: RateOrder) -> None:
        if data.stars not in range(1, 6):
            ctx.notice(ctx.t("button.expired"))
            return
        try:
            rated = await ctx.services.support.rate_order(
                ctx.customer.id, data.order_id, data.stars
            )
        except OrderNotTheirs:
            ctx.notice(ctx.t("support.refused.order_not_found"))
            return
        if not rated:
            ctx.notice(ctx.t("rate.already"))
            return
        ctx.notice(ctx.t.plural("rate.thanks", data.stars, stars=data.stars))
        comment = (Button(ctx.t("rate.comment"), CommentOrder(data.order_id).pack()),)
        ctx.reply(
            ctx.t.plural("rate.thanks", data.stars, stars=data.stars),
            (comment, back_to_menu(ctx.t)),
        )

    @router.button(CommentOrder)
    async def comment(ctx: Context, data: CommentOrder) -> None:
        rating = await ctx.services.support.order_rating(data.order_id)
        try:
            await ctx.services.ordering.order_for(ctx.customer.id, data.order_id)
        except RechargeError:
            ctx.notice(ctx.t("support.refused.order_not_found"))
            return
        if rating is None or rating[1] is not None:
            ctx.notice(ctx.t("rate.already"))
            return
        ctx.go(COMMENTING, order=data.order_id)
        ctx.reply(ctx.t("rate.ask_comment", limit=MAX_TEXT), (cancel_row(ctx.t),))

    @router.step(COMMENTING)
    async def commented(ctx: Context) -> None:
        if _too_long(ctx):
            return
        order_id = int(str(ctx.state.data.get("order") or 0))
        ctx.finish()
        await ctx.services.support.comment_order(
            ctx.customer.id, order_id, ctx.event.text[:MAX_TEXT]
        )
        ctx.reply(ctx.t("rate.comment_thanks"), (back_to_menu(ctx.t),))

    # -- text right after a ticket opened joins it -------------------------------------------
    @router.text_hook
    async def just_opened(ctx: Context) -> bool:
        if ctx.state.step != JUST_OPENED or ctx.event.chat_type != "private":
            return False
        ticket_id = int(str(ctx.state.data.get("ticket") or 0))
        until = datetime.fromisoformat(str(ctx.state.data.get("until")))
        ctx.finish()
        if datetime.now(UTC) > until or ctx.event.text.startswith("/"):
            return False
        if _too_long(ctx):
            ctx.go(JUST_OPENED, ticket=ticket_id, until=until.isoformat())
            return True
        await _join_ticket(ctx, ticket_id)
        return True

    # -- words for the support screens ------------------------------------------------------
    router.keyword("客服", "人工客服", "人工", "反馈", "support", "agent", "human", "feedback")(
        feedback_command
    )

    @router.keyword("投诉", "complaint", "complain")
    async def complaint_word(ctx: Context) -> None:
        ctx.finish()
        rows = tuple(
            (Button(category_name(ctx.t, c), ComplaintCategory(c).pack()),) for c in Category
        )
        ctx.reply(ctx.t("support.ask_category"), (*rows, back_to_menu(ctx.t)))

    # -- a reply to a ticket message ----------------------------------------------------------
    @router.text_hook
    async def reply_to_ticket(ctx: Context) -> bool:
        event = ctx.event
        if event.chat_type != "private" or event.reply_to_message_id is None:
            return False
        support = ctx.services.support
        ticket_id = await support.ticket_answered_by(event.chat_id, event.reply_to_message_id)
        if ticket_id is None:
            return False
        try:
            await support.own_ticket(ctx.customer.id, ticket_id)
        except TicketNotFound:
            # Not theirs: a supervisor answering an escalation sent to them privately.
            if not await ctx.services.staff.is_staff(event.user.telegram_id):
                return False
            await relay_staff_reply(ctx, ticket_id)
            return True
        await _join_ticket(ctx, ticket_id)
        return True


async def _join_ticket(ctx: Context, ticket_id: int) -> None:
    """The customer's message joins their ticket (and goes to staff)."""
    event = ctx.event
    try:
        ticket = await ctx.services.support.customer_message(
            ctx.customer.id,
            ticket_id,
            event.text[:MAX_TEXT],
            source_chat_id=event.chat_id,
            source_message_id=event.message_id,
        )
    except SupportError as error:
        _refused(ctx, error)
        return
    ctx.reply(ctx.t("support.added", number=ticket.number), answer_rows(ctx.t, ticket))


__all__ = ["register"]
