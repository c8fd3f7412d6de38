"""/orders: recent orders with live status, details, "check status" and "recharge again"."""

from __future__ import annotations

from dataclasses import dataclass

from domain.orders import Order, OrderPurpose, OrderStatus
from domain.services.recharge import RechargeError
from handlers.buttons import ButtonData
from handlers.contract import Button
from handlers.features.recharge import (
    RepeatOrder,
    ShowOrders,
    receipt_buttons,
    show_confirmation,
    show_receipt,
)
from handlers.i18n import Texts
from handlers.menu import back_to_menu
from handlers.receipts import product_name, receipt, summary_line
from handlers.router import Context, ConversationRouter

AGAIN_SHOWN = 3


@dataclass(frozen=True)
class OrderDetail(ButtonData, prefix="ord#"):
    order_id: int


@dataclass(frozen=True)
class CheckOrder(ButtonData, prefix="ord?"):
    order_id: int


async def _show_orders(ctx: Context, *, edit: bool) -> None:
    orders = await ctx.services.ordering.orders_of(ctx.customer.id, limit=10)
    if not orders:
        ctx.reply(ctx.t("orders.none"), (back_to_menu(ctx.t),), edit=edit)
        return
    rows: list[tuple[Button, ...]] = [
        (Button(summary_line(ctx.t, o), OrderDetail(o.id).pack()),) for o in orders
    ]
    rows += again_rows(ctx.t, orders)
    rows.append(back_to_menu(ctx.t))
    ctx.reply(ctx.t("orders.header"), tuple(rows), edit=edit)


def again_rows(t: Texts, orders: list[Order]) -> list[tuple[Button, ...]]:
    """ "Recharge again" for the latest few different recharges (number and product) that
    completed: from /orders to a receipt in two taps (this one and pay)."""
    rows: list[tuple[Button, ...]] = []
    seen: set[tuple[str | None, int | None]] = set()
    for order in orders:
        key = (order.phone_digits, order.product_id)
        if order.status is not OrderStatus.COMPLETED or order.purpose is not OrderPurpose.RECHARGE:
            continue
        if key in seen or not order.phone_digits or "*" in order.phone_digits:
            continue
        seen.add(key)
        label = t("orders.again", product=product_name(t, order), number=order.masked_phone)
        rows.append((Button(label, RepeatOrder(order.id).pack()),))
        if len(rows) == AGAIN_SHOWN:
            break
    return rows


async def _show_order(ctx: Context, order_id: int, *, refresh: bool) -> None:
    try:
        order = await ctx.services.ordering.order_for(ctx.customer.id, order_id)
        if refresh and order.in_flight:
            order = await ctx.services.fulfilment.refresh(order.id)
    except RechargeError:
        ctx.notice(ctx.t("recharge.refused.order_not_found"))
        await _show_orders(ctx, edit=True)
        return
    if order.payable or order.held:
        await show_confirmation(ctx, order, edit=True)
        return
    if not order.in_flight:
        await show_receipt(ctx, order, edit=True)
        return
    check = (Button(ctx.t("orders.check"), CheckOrder(order.id).pack()),)
    ctx.reply(receipt(ctx.t, order), (check, *receipt_buttons(ctx.t, order)), edit=True)


def register(router: ConversationRouter) -> None:
    router.menu_entry(20, "menu.orders", ShowOrders())

    @router.command("orders")
    async def orders_command(ctx: Context) -> None:
        await _show_orders(ctx, edit=False)

    router.keyword("订单", "我的订单", "orders", "my orders")(orders_command)

    @router.button(ShowOrders)
    async def orders_button(ctx: Context, _data: ShowOrders) -> None:
        await _show_orders(ctx, edit=True)

    @router.button(OrderDetail)
    async def order_detail(ctx: Context, data: OrderDetail) -> None:
        await _show_order(ctx, data.order_id, refresh=False)

    @router.button(CheckOrder)
    async def check_order(ctx: Context, data: CheckOrder) -> None:
        await _show_order(ctx, data.order_id, refresh=True)
