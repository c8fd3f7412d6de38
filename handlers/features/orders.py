"""/orders: recent orders with live status, details, "check status" and "recharge again"."""

from __future__ import annotations

from dataclasses import dataclass

from domain.services.recharge import RechargeError
from handlers.buttons import ButtonData
from handlers.contract import Button
from handlers.features.recharge import (
    ShowOrders,
    receipt_buttons,
    show_confirmation,
    show_receipt,
)
from handlers.menu import back_to_menu
from handlers.receipts import receipt, summary_line
from handlers.router import Context, ConversationRouter


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
    rows.append(back_to_menu(ctx.t))
    ctx.reply(ctx.t("orders.header"), tuple(rows), edit=edit)


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

    @router.button(ShowOrders)
    async def orders_button(ctx: Context, _data: ShowOrders) -> None:
        await _show_orders(ctx, edit=True)

    @router.button(OrderDetail)
    async def order_detail(ctx: Context, data: OrderDetail) -> None:
        await _show_order(ctx, data.order_id, refresh=False)

    @router.button(CheckOrder)
    async def check_order(ctx: Context, data: CheckOrder) -> None:
        await _show_order(ctx, data.order_id, refresh=True)
