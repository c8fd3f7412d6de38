"""How an order reads to its customer: receipts, status lines, the outcome of a top-up."""

from __future__ import annotations

from domain.campaigns import Quote
from domain.money import Money
from domain.orders import CHINA, Order, OrderPurpose, OrderStatus, PaymentMethod
from handlers.i18n import Texts
from handlers.offers_text import benefit_lines, earnings_line

S = OrderStatus


def product_name(t: Texts, order: Order) -> str:
    if order.purpose is OrderPurpose.WALLET_TOPUP:
        return t("product.wallet_topup")
    english = t.language.value == "en"
    name = order.product_name_en if english else order.product_name_zh
    if order.bundle is not None:  # call credit with a data pack, bought together
        pack = order.bundle.name_en if english else order.bundle.name_zh
        return t("bundle.product", product=name, pack=pack)
    return name


def local_time(order: Order) -> str:
    moment = order.completed_at or order.created_at
    return f"{moment.astimezone(CHINA):%Y-%m-%d %H:%M}"


def target(t: Texts, order: Order) -> str:
    if order.purpose is OrderPurpose.WALLET_TOPUP:
        return t("receipt.wallet")
    carrier = t(f"carrier.{order.carrier}") if order.carrier else ""
    return t("receipt.number", number=order.masked_phone, carrier=carrier)


def method_name(t: Texts, order: Order) -> str:
    return t(f"pay.method.{order.payment_method}") if order.payment_method else "-"


def status_name(t: Texts, status: OrderStatus) -> str:
    return t(f"order.status.{status}")


def summary_line(t: Texts, order: Order) -> str:
    """One line of /orders: date, what, how much, state."""
    return t(
        "order.line",
        date=f"{order.created_at.astimezone(CHINA):%m-%d %H:%M}",
        product=product_name(t, order),
        amount=order.amount.short(),
        status=status_name(t, order.status),
    )


def receipt(t: Texts, order: Order) -> str:
    """The full account of an order in its current state."""
    details = t(
        "receipt.details",
        product=product_name(t, order),
        target=target(t, order),
        amount=order.amount.format(),
        method=method_name(t, order),
        time=local_time(order),
        number=order.number,
    )
    return f"{t(headline_key(order))}\n{details}" + _explanation(t, order) + _benefits(t, order)


def _benefits(t: Texts, order: Order) -> str:
    """What the offers gave (completed) or will give (before that); nothing once it failed."""
    quote = order.quote
    if quote is None or order.status in (S.REFUNDED, S.EXPIRED, S.FAILED):
        return ""
    lines = benefit_lines(t, quote)
    if quote.price < quote.amount:
        lines.insert(0, t("receipt.list_price", amount=quote.amount.format()))
    if order.status is S.COMPLETED and (quote.points or quote.cashback.is_positive):
        lines.append(
            t.plural("receipt.earned", quote.points, points=quote.points) + _cashback(t, quote)
        )
    elif quote.points or quote.cashback.is_positive:
        lines.append(earnings_line(t, quote))
    return "".join("\n" + line for line in lines)


def _cashback(t: Texts, quote: Quote) -> str:
    if not quote.cashback.is_positive:
        return ""
    return t("receipt.cashback", cashback=quote.cashback.format())


def headline_key(order: Order) -> str:
    if order.status is S.COMPLETED and order.purpose is OrderPurpose.WALLET_TOPUP:
        return "receipt.headline.wallet_completed"
    return f"receipt.headline.{order.status}"


def _explanation(t: Texts, order: Order) -> str:
    if order.status is S.REFUNDED and order.payment_method is PaymentMethod.POINTS:
        return "\n" + t("receipt.refunded_points", reason=failure_reason(t, order.failure_reason))
    if order.status is S.REFUNDED:
        return "\n" + t(
            "receipt.refunded",
            amount=order.amount.format(),
            reason=failure_reason(t, order.failure_reason),
        )
    if order.status in (S.PAID, S.TOPPING_UP):
        return "\n" + t("receipt.in_flight")
    return ""


def failure_reason(t: Texts, reason: str | None) -> str:
    known = {"number_not_rechargeable", "carrier_failed"}
    return t(f"failure.{reason}") if reason in known else t("failure.carrier_failed")


def balance_line(t: Texts, balance: Money) -> str:
    return t("wallet.balance", balance=balance.format())


def held_notice(t: Texts, order: Order, frozen: bool) -> str:
    """What the customer is told when a risk rule holds their order (or freezes them)."""
    text = t("risk.held", number=order.number, amount=order.amount.format())
    if frozen:
        text += "\n\n" + t("risk.frozen")
    return text
