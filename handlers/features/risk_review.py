"""Risk: what a customer is told when a rule holds their order or freezes their account, the
staff alert with its buttons (release, refund, keep frozen), /risk (the cases waiting), and
the customer's notice of the decision (sent by the risk sweep).

Every press and the command check `is_staff` first. A decision is taken once (a conditional
update in the service), with who and when; a second press only shows where the case stands.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from domain.languages import DEFAULT_LANGUAGE
from domain.money import Money
from domain.orders import CHINA, Order
from domain.risk import CaseStatus, Decision, RiskAction, RiskCase, RiskRule
from domain.services.customers import CustomerNotFound
from domain.services.recharge import RechargeError
from domain.services.registry import Services
from handlers.buttons import ButtonData
from handlers.contract import Button, Reply
from handlers.features.orders import OrderDetail
from handlers.features.staff_desk import desk_texts, staff_name
from handlers.i18n import Texts, texts
from handlers.router import Context, ConversationRouter

log = logging.getLogger(__name__)

PENDING_LISTED = 20
# Rules whose limit is an amount of money (the others count orders or numbers).
AMOUNT_RULES = frozenset({RiskRule.AMOUNT_PER_HOUR, RiskRule.NEW_ACCOUNT_LARGE})


@dataclass(frozen=True)
class DecideRisk(ButtonData, prefix="risk"):
    case_id: int
    decision: Decision
    # Pressed in the /risk list (the list is shown again) rather than under the alert.
    listed: bool = False


def rule_text(t: Texts, case: RiskCase) -> str:
    limit = int(case.evidence) if case.evidence.isdigit() else 0
    shown = Money(limit).format() if case.rule in AMOUNT_RULES else str(limit)
    return t(f"risk.rule.{case.rule.value}", limit=shown)


def _when(moment: datetime | None) -> str:
    return f"{moment.astimezone(CHINA):%Y-%m-%d %H:%M}" if moment is not None else "-"


async def case_text(t: Texts, services: Services, case: RiskCase) -> str:
    """The alert's evidence: the rule and its limit, the order, the customer and their age."""
    order_line = "-"
    if case.order_id is not None:
        try:
            order = await services.paying.get(case.order_id)
        except RechargeError:
            order = None
        if order is not None:
            order_line = t(
                "risk.alert.order",
                number=order.number,
                amount=order.amount.format(),
                phone=order.masked_phone or "-",
            )
    try:
        customer = await services.customers.get(case.customer_id)
        registered = _when(customer.registered_at)
    except CustomerNotFound:
        registered = "-"
    return t(
        "risk.alert",
        case=case.id,
        rule=rule_text(t, case),
        action=t(f"risk.action.{case.action.value}"),
        customer=case.customer_id,
        registered=registered,
        order=order_line,
        at=_when(case.created_at),
    )


def decision_line(t: Texts, case: RiskCase) -> str:
    if case.status is CaseStatus.OPEN:
        if case.first_approver is not None:
            name = case.first_approver_name or str(case.first_approver)
            return t("risk.state.first_approval", staff=name)
        return t("risk.state.open")
    return t(
        "risk.decided",
        state=t(f"risk.state.{case.status.value}"),
        staff=case.decided_by_name or str(case.decided_by or "-"),
        at=_when(case.decided_at),
    )


def case_buttons(t: Texts, case: RiskCase, *, listed: bool = False) -> tuple[Button, ...]:
    """The decisions still open to the case."""
    if case.status is CaseStatus.KEPT_FROZEN:
        decisions = [Decision.RELEASE]
    elif case.status is CaseStatus.OPEN:
        decisions = [Decision.RELEASE]
        if case.order_id is not None:
            decisions.append(Decision.REFUND)
        decisions.append(Decision.KEEP_FROZEN)
    else:
        decisions = []
    return tuple(
        Button(
            t(f"risk.button.{d.value}", case=case.id), DecideRisk(case.id, d, listed=listed).pack()
        )
        for d in decisions
    )


async def staff_alert(services: Services, case: RiskCase) -> Reply:
    """For the staff chat: the evidence and, while the case waits, its buttons."""
    t = texts(DEFAULT_LANGUAGE)
    text = await case_text(t, services, case) + "\n\n" + decision_line(t, case)
    buttons = case_buttons(t, case)
    return Reply(text, (buttons,) if buttons else ())


def decision_notice(t: Texts, case: RiskCase, order: Order | None, minutes: int) -> Reply:
    """What the customer is told of the decision, plainly."""
    number = order.number if order is not None else ""
    if case.status is CaseStatus.RELEASED:
        if order is not None and order.payable:
            text = t("risk.told.released_order", number=number, minutes=minutes)
            if case.action is RiskAction.FREEZE:
                text += "\n\n" + t("risk.told.released_account")
            pay = Button(t("risk.open_order"), OrderDetail(order.id).pack())
            return Reply(text, ((pay,),))
        return Reply(t("risk.told.released_account"))
    if case.status is CaseStatus.REFUNDED:
        return Reply(t("risk.told.refused", number=number))
    return Reply(t("risk.told.kept_frozen"))


async def pending_list(services: Services, t: Texts) -> Reply:
    cases = await services.risk.pending(PENDING_LISTED)
    if not cases:
        return Reply(t("risk.pending_none"))
    lines = [t("risk.pending_title", count=len(cases))]
    for case in cases:
        lines.append(
            t(
                "risk.pending_line",
                case=case.id,
                customer=case.customer_id,
                rule=rule_text(t, case),
                state=t(f"risk.state.{case.status.value}"),
            )
        )
    rows = tuple(row for case in cases if (row := case_buttons(t, case, listed=True)))
    return Reply("\n".join(lines), rows[:25])


def _answer(ctx: Context, reply: Reply, *, edit: bool) -> None:
    if edit:
        ctx.reply(reply.text, reply.buttons, edit=True)
        return
    event = ctx.event
    ctx.outcome.replies.append(
        Reply(reply.text, reply.buttons, chat_id=event.chat_id, thread_id=event.thread_id)
    )


def register(router: ConversationRouter) -> None:
    @router.command("risk", staff=True)
    async def risk_command(ctx: Context) -> None:
        if not await ctx.staff_only():
            return
        # In the language of the chat it is asked in (the staff member's own in private).
        _answer(ctx, await pending_list(ctx.services, desk_texts(ctx)), edit=False)

    @router.button(DecideRisk)
    async def decide(ctx: Context, data: DecideRisk) -> None:
        if not await ctx.staff_only():
            return
        t = ctx.t  # the notice is the presser's own
        result = await ctx.services.risk.decide(
            data.case_id, data.decision, ctx.event.user.telegram_id, staff_name(ctx)
        )
        if result is None:
            ctx.notice(t("risk.not_found", case=data.case_id))
            return
        if result.awaiting_second:
            ctx.notice(t("risk.second_needed", case=data.case_id))
        elif result.done:
            ctx.notice(decision_line(t, result.case))
        else:
            ctx.notice(t("risk.already", case=data.case_id, state=decision_line(t, result.case)))
        if data.listed:
            _answer(ctx, await pending_list(ctx.services, desk_texts(ctx)), edit=True)
        else:
            _answer(ctx, await staff_alert(ctx.services, result.case), edit=True)
